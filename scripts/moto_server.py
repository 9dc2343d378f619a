"""moto_server that answers one request at a time (same arguments as moto_server).

moto's backends are not safe under concurrent requests: two DynamoDB conditional writes racing
on one item can both pass, which the real service never allows. The web app's rate limiter is
tested with concurrent conditional writes, so the tests run the emulator through this wrapper.
Requests are short (the app's SQS receives use no long polling in tests), so serializing them
costs little.
"""

import sys
import threading

from moto import server

_one_at_a_time = threading.Lock()
_dispatch = server.DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    with _one_at_a_time:
        # moto builds each response in full before returning it, so the lock covers the work.
        return list(_dispatch(self, environ, start_response))


server.DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    sys.exit(server.main())

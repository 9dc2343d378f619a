//! The signed, opaque page cursors of history and search: `<position>.<signature>`, the
//! position in base64url, the signature binding it to the user (and, for a search, to the
//! query), so a cursor is no use to another user and cannot be altered.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::core::domain::UserId;
use crate::error::{AppError, AppResult};

use super::Engine;

impl Engine {
    /// The cursor of `position` for `user`; `scope` tells what the position belongs to (empty
    /// for the history).
    pub(super) fn make_cursor(&self, user: &UserId, scope: &[&[u8]], position: &[u8]) -> String {
        let sig = self
            .cursor_signer
            .sign(&Self::signed_parts(user, scope, position));
        format!("{}.{sig}", URL_SAFE_NO_PAD.encode(position))
    }

    /// The position in a cursor from [`Self::make_cursor`] with the same user and scope; a
    /// `400 invalid_cursor` for anything else.
    pub(super) fn open_cursor<const N: usize>(
        &self,
        user: &UserId,
        scope: &[&[u8]],
        cursor: &str,
    ) -> AppResult<[u8; N]> {
        let invalid = || AppError::bad_request("invalid_cursor", "the cursor is not valid");
        let (position, sig) = cursor.split_once('.').ok_or_else(invalid)?;
        let position: [u8; N] = URL_SAFE_NO_PAD
            .decode(position)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(invalid)?;
        if !self
            .cursor_signer
            .verify(&Self::signed_parts(user, scope, &position), sig)
        {
            return Err(invalid());
        }
        Ok(position)
    }

    fn signed_parts<'p>(user: &'p UserId, scope: &[&'p [u8]], position: &'p [u8]) -> Vec<&'p [u8]> {
        let mut parts = vec![user.as_str().as_bytes()];
        parts.extend_from_slice(scope);
        parts.push(position);
        parts
    }
}

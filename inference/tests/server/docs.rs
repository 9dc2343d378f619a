//! What the server documents: the OpenAPI document matches the router, and `--help` and
//! `docs/models.md` name every setting's variable.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::harness::{
    answer, client, documented_statuses, get, repo_root, run_tool, stdout, Server,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let server = Server::tiny(&[]).await;
    let client = client();
    let doc = get(&client, &server, "/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    let routes = documented_statuses(&doc.json);
    let documented: BTreeSet<(String, String)> = routes.keys().cloned().collect();
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/ping"),
        ("POST", "/invocations"),
        ("GET", "/health"),
        ("GET", "/info"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(documented, expected);
    for (method, path) in &documented {
        // Served with the documented method, refused with another, and what is served answers
        // with a documented status.
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = answer(
            client
                .request(method.clone(), server.url(path))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            routes[&(method.to_string(), path.clone())].contains(&response.status.as_u16()),
            "{method} {path}: {response:?}"
        );
        let other = if method == reqwest::Method::GET {
            reqwest::Method::DELETE
        } else {
            reqwest::Method::GET
        };
        let refused = answer(
            client
                .request(other, server.url(path))
                .send()
                .await
                .unwrap(),
        )
        .await;
        refused.assert_error(405, "method_not_allowed");
    }
    get(&client, &server, "/nowhere")
        .await
        .assert_error(404, "not_found");
    let invocations = &routes[&("POST".to_string(), "/invocations".to_string())];
    let expected: BTreeSet<u16> = [200, 400, 406, 413, 415, 422, 424, 429, 500, 503, 504].into();
    assert_eq!(invocations, &expected);
    let ping = &routes[&("GET".to_string(), "/ping".to_string())];
    assert_eq!(ping, &BTreeSet::from([200, 503]));
}

/// `--help` of every command names each setting's variable, and `docs/models.md` lists them
/// all.
#[test]
fn help_and_docs_document_every_setting_with_its_environment_variable() {
    let docs = std::fs::read_to_string(repo_root().join("docs/models.md")).unwrap();
    let mut variables = BTreeSet::new();
    for command in [
        &[][..],
        &["package"],
        &["quantize"],
        &["healthcheck"],
        &["check-model"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let output = run_tool(&args);
        assert!(output.status.success(), "{args:?}");
        let help = stdout(&output);
        for part in help.split("[env: ").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            variables.insert(name);
        }
        if command.is_empty() {
            for sub in ["serve", "check-model", "package", "quantize", "healthcheck"] {
                assert!(help.contains(sub), "{sub} missing from --help");
            }
        }
    }
    for expected in [
        "HF_MODEL_ID",
        "HF_MODEL_REVISION",
        "HF_TOKEN",
        "IMGCAP_MODEL_DIR",
        "IMGCAP_MAX_BATCH_SIZE",
        "IMGCAP_MAX_BATCH_WAIT_MS",
        "IMGCAP_MAX_CONCURRENT_REQUESTS",
        "IMGCAP_MAX_BODY_BYTES",
        "IMGCAP_REQUEST_TIMEOUT_MS",
        "IMGCAP_SHUTDOWN_TIMEOUT_MS",
        "IMGCAP_MAX_REQUEST_WORK",
        "IMGCAP_MAX_CONNECTIONS",
        "IMGCAP_HEADER_READ_TIMEOUT_MS",
        "IMGCAP_KEEP_ALIVE_TIMEOUT_MS",
        "IMGCAP_LOG_FORMAT",
    ] {
        assert!(
            variables.contains(expected),
            "{expected} missing from --help"
        );
    }
    for variable in &variables {
        assert!(
            docs.contains(&format!("`{variable}`")),
            "{variable} is missing from docs/models.md"
        );
    }
}

//! The API documentation for people (`docs/api.md`) and the Postman collection
//! (`docs/imgcap.postman_collection.json`) name exactly the operations of the OpenAPI document:
//! nothing documented that does not exist, nothing that exists left out. And the README's
//! configuration table lists exactly the variables of the repository's `.env.example`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn docs_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `METHOD /path` of every operation in the app's OpenAPI document.
fn openapi_operations() -> BTreeSet<String> {
    let doc = serde_json::to_value(imgcap_webapp::http::openapi::document()).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

/// A concrete path (`/api/v1/images/01J...`, `/api/v1/images?limit=20`) as the OpenAPI
/// template it matches (`/api/v1/images/{id}`), or itself when none does.
fn as_template(path: &str, templates: &BTreeSet<String>) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    for template in templates {
        let (_, template_path) = template.split_once(' ').unwrap();
        let wanted: Vec<&str> = template_path.split('/').collect();
        if wanted.len() == segments.len()
            && wanted
                .iter()
                .zip(&segments)
                .all(|(w, s)| w == s || (w.starts_with('{') && w.ends_with('}')))
        {
            return template_path.to_string();
        }
    }
    path.to_string()
}

/// Operations named in `docs/api.md`: every `### METHOD /path` heading, and the method and path
/// of every `curl` call.
fn api_md_operations(
    md: &str,
    templates: &BTreeSet<String>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut headings = BTreeSet::new();
    let mut curls = BTreeSet::new();
    for line in md.lines() {
        if let Some(rest) = line.strip_prefix("### ") {
            if let Some((method, path)) = rest.trim().split_once(' ') {
                if METHODS.contains(&method) {
                    headings.insert(format!("{method} {path}"));
                }
            }
        }
        let line = line.trim();
        if !line.starts_with("curl ") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let method = words
            .windows(2)
            .find(|w| w[0] == "-X")
            .map(|w| w[1])
            .unwrap_or("GET");
        let url = words
            .iter()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
            .find_map(|w| w.strip_prefix("$IMGCAP"))
            .unwrap_or_else(|| panic!("curl without a $IMGCAP URL in docs/api.md: {line}"));
        curls.insert(format!("{method} {}", as_template(url, templates)));
    }
    (headings, curls)
}

/// Operations of the Postman collection: every request in the (possibly nested) items.
fn postman_operations(
    collection: &Value,
    templates: &BTreeSet<String>,
    out: &mut BTreeSet<String>,
) {
    for item in collection["item"].as_array().into_iter().flatten() {
        if item.get("item").is_some() {
            postman_operations(item, templates, out);
            continue;
        }
        let request = &item["request"];
        let method = request["method"].as_str().unwrap();
        let segments: Vec<String> = request["url"]["path"]
            .as_array()
            .unwrap_or_else(|| panic!("request {} has no url.path", item["name"]))
            .iter()
            .map(|s| {
                let s = s.as_str().unwrap();
                // Postman's path variables (`:id`) are OpenAPI's `{id}`.
                match s.strip_prefix(':') {
                    Some(name) => format!("{{{name}}}"),
                    None => s.to_string(),
                }
            })
            .collect();
        let path = format!("/{}", segments.join("/"));
        out.insert(format!("{method} {}", as_template(&path, templates)));
        let raw = request["url"]["raw"].as_str().unwrap_or_default();
        assert!(
            raw.starts_with("{{baseUrl}}/"),
            "request {} must use {{{{baseUrl}}}}: {raw}",
            item["name"]
        );
    }
}

#[test]
fn api_md_documents_every_operation_and_only_real_ones() {
    let openapi = openapi_operations();
    let (headings, curls) = api_md_operations(&docs_file("api.md"), &openapi);
    assert_eq!(
        headings, openapi,
        "### METHOD /path headings of docs/api.md"
    );
    assert_eq!(curls, openapi, "curl examples of docs/api.md");
}

#[test]
fn postman_collection_names_every_operation_and_only_real_ones() {
    let openapi = openapi_operations();
    let collection: Value =
        serde_json::from_str(&docs_file("imgcap.postman_collection.json")).unwrap();
    assert_eq!(
        collection["info"]["schema"],
        "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    );
    let mut requests = BTreeSet::new();
    postman_operations(&collection, &openapi, &mut requests);
    assert_eq!(requests, openapi, "requests of the Postman collection");
}

#[test]
fn the_checks_tell_a_missing_route_from_a_documented_one() {
    let openapi = openapi_operations();
    let md = "### GET /api/v1/nope\n```sh\ncurl -sS -X PUT \"$IMGCAP/api/v1/images/01JDQ3Z6W8R4T0Y5V7X9A2B3C4\"\n```\n";
    let (headings, curls) = api_md_operations(md, &openapi);
    assert!(!openapi.is_superset(&headings));
    assert_eq!(
        curls.into_iter().collect::<Vec<_>>(),
        ["PUT /api/v1/images/{id}"]
    );
    assert!(!openapi.contains("PUT /api/v1/images/{id}"));
}

/// Names in the first column of the README's "## Configuration" table.
fn readme_configuration_names(readme: &str) -> BTreeSet<String> {
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("README.md has a ## Configuration section");
    let section = section.split("\n## ").next().unwrap();
    let mut names = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = row.split('|').nth(1).unwrap();
        for (i, part) in first_cell.split('`').enumerate() {
            if i % 2 == 1 {
                names.insert(part.to_string());
            }
        }
    }
    names
}

/// The variables of `.env.example`: its `NAME=value` lines and the ones commented out as
/// `# IMGCAP_NAME=default`.
pub fn env_example_variables(example: &str) -> BTreeSet<String> {
    example
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|rest| rest.starts_with("IMGCAP_"))
                .unwrap_or(l)
        })
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .filter(|k| !k.is_empty() && !k.contains(' '))
        .collect()
}

pub const ENV_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example");

#[test]
fn readme_configuration_table_lists_every_variable_of_env_example() {
    let example = std::fs::read_to_string(ENV_EXAMPLE).unwrap();
    let variables = env_example_variables(&example);
    assert!(variables.len() > 10, "{variables:?}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let documented = readme_configuration_names(&readme);
    let missing: Vec<_> = variables.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "README.md ## Configuration lacks {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&variables).collect();
    assert!(
        unknown.is_empty(),
        "README.md ## Configuration names {unknown:?}, not in .env.example"
    );
}

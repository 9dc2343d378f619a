use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_are_valid_and_documented() {
    let config = Config::from_sources("", env(&[])).unwrap();
    assert_eq!(config.upload.max_bytes, 10 * 1024 * 1024);
    assert_eq!(config.rate_limit.uploads_per_hour, 60);
    assert_eq!(config.rate_limit.sign_in_failures_per_account, 5);
    assert_eq!(config.rate_limit.sign_in_failures_per_ip, 20);
    assert_eq!(config.rate_limit.sign_in_window_secs, 900);
    assert_eq!(config.retention.days, 90);
    assert_eq!(config.blobs.url_ttl_secs, 300);
    assert_eq!(config.blobs.orphan_grace_secs, 3600);
    assert_eq!(config.upload.image_memory_budget_mb, 512);
    assert_eq!(config.server.max_connections, 1024);
    assert_eq!(config.server.header_read_timeout_ms, 10_000);
    assert_eq!(config.server.keep_alive_timeout_ms, 5_000);
    assert_eq!(config.server.body_min_bytes_per_sec, 16 * 1024);
    assert_eq!(config.server.body_grace_ms, 10_000);
    assert_eq!(config.upload.image_memory_wait_ms, 2000);
    assert_eq!(config.metrics.token, None);
    assert_eq!(config.api_tokens.lifetime(), None, "tokens never expire");
    assert_eq!(config.metrics.listen_addr.to_string(), "127.0.0.1:9090");
    assert_eq!(config.metrics.cloudwatch(), None, "no CloudWatch records");
}

#[test]
fn cloudwatch_metrics_take_a_namespace_and_an_environment() {
    let config = Config::from_sources(
        "",
        env(&[
            ("IMGCAP_METRICS_CLOUDWATCH_NAMESPACE", "imgcap"),
            ("IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT", "prod"),
        ]),
    )
    .unwrap();
    assert_eq!(config.metrics.cloudwatch(), Some(("imgcap", "prod")));
    let blank = Config::from_sources("[metrics]\ncloudwatch_namespace = \" \"\n", env(&[]));
    assert_eq!(blank.unwrap().metrics.cloudwatch(), None, "blank is off");
}

#[test]
fn cookies_are_secure_except_on_plain_http_localhost() {
    for (url, https, secure) in [
        ("https://imgcap.example", true, true),
        ("http://imgcap.example", false, true),
        ("http://127.0.0.1:8080", false, false),
        ("http://localhost:3000", false, false),
        ("http://[::1]:80", false, false),
        ("http://localhost.evil.example", false, true),
    ] {
        let config = Config::from_sources("", env(&[("IMGCAP_PUBLIC_BASE_URL", url)])).unwrap();
        assert_eq!(
            (config.https(), config.secure_cookies()),
            (https, secure),
            "{url}"
        );
    }
}

#[test]
fn environment_overrides_the_file() {
    let config = Config::from_sources(
        "[worker]\nconcurrency = 4\n[rate_limit]\nuploads_per_hour = 5\n",
        env(&[
            ("IMGCAP_WORKER_CONCURRENCY", "7"),
            ("IMGCAP_CAPTIONER_CHAIN", "endpoint, embedded"),
            (
                "IMGCAP_CAPTIONER_ENDPOINT_URL",
                "http://127.0.0.1:9/invocations",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(config.worker.concurrency, 7);
    assert_eq!(config.rate_limit.uploads_per_hour, 5);
    assert_eq!(
        config.captioner.chain,
        [ProviderKind::Endpoint, ProviderKind::Embedded]
    );
}

#[test]
fn oidc_section_is_optional_and_read_from_the_environment() {
    assert!(Config::from_sources("", env(&[])).unwrap().oidc.is_none());
    let config = Config::from_sources(
        "[oidc]\nissuer = \"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_P\"\n",
        env(&[
            ("IMGCAP_OIDC_CLIENT_ID", "client123"),
            (
                "IMGCAP_OIDC_REDIRECT_URL",
                "https://imgcap.example/auth/callback",
            ),
            ("IMGCAP_OIDC_SCOPES", "openid, email, profile"),
        ]),
    )
    .unwrap();
    let oidc = config.oidc.unwrap();
    assert_eq!(oidc.client_id, "client123");
    assert_eq!(oidc.scopes, ["openid", "email", "profile"]);
    assert_eq!(oidc.admin_group, "admin");
}

#[test]
fn sign_up_is_open_without_oidc_closed_with_it_and_can_be_set() {
    let oidc = "[oidc]\nissuer = \"https://id.example\"\nclient_id = \"c\"\n\
                redirect_url = \"https://imgcap.example/auth/callback\"\n";
    let config = Config::from_sources("", env(&[])).unwrap();
    assert_eq!(config.sign_up_policy(), SignUpPolicy::Open);
    assert_eq!(config.rate_limit.sign_ups_per_ip_per_hour, 3);
    assert_eq!(config.rate_limit.regenerations_per_hour, 20);
    let config = Config::from_sources(oidc, env(&[])).unwrap();
    assert_eq!(config.sign_up_policy(), SignUpPolicy::Closed);
    let config = Config::from_sources("", env(&[("IMGCAP_SIGN_UP_POLICY", "invite")])).unwrap();
    assert_eq!(config.sign_up_policy(), SignUpPolicy::Invite);
    let err = Config::from_sources(oidc, env(&[("IMGCAP_SIGN_UP_POLICY", "open")])).unwrap_err();
    assert!(err.contains("sign_up_policy"), "{err}");
}

#[test]
fn cloud_captioners_and_labels_take_the_terraform_variables() {
    let config = Config::from_sources(
        "",
        env(&[
            ("IMGCAP_CAPTIONER_CHAIN", "sagemaker, bedrock, hf"),
            ("IMGCAP_SAGEMAKER_ENDPOINT", "imgcap-dev-captioner"),
            (
                "IMGCAP_BEDROCK_MODEL_ID",
                "anthropic.claude-3-haiku-20240307-v1:0",
            ),
            ("IMGCAP_HF_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:x"),
            ("IMGCAP_REKOGNITION_LABELS", "true"),
            ("IMGCAP_CAPTIONER_BEDROCK_TIMEOUT_MS", "1234"),
        ]),
    )
    .unwrap();
    assert_eq!(
        config.captioner.chain,
        [
            ProviderKind::Sagemaker,
            ProviderKind::Bedrock,
            ProviderKind::Hf
        ]
    );
    assert_eq!(
        config.captioner.sagemaker.endpoint_name.as_deref(),
        Some("imgcap-dev-captioner")
    );
    assert_eq!(config.captioner.bedrock.breaker().timeout_ms, 1234);
    assert_eq!(
        config.captioner.hf.api_key_secret_arn.as_deref(),
        Some("arn:aws:secretsmanager:x")
    );
    assert!(config.labels.rekognition);
    let off = Config::from_sources("", env(&[("IMGCAP_REKOGNITION_LABELS", "false")]));
    assert!(!off.unwrap().labels.rekognition);
}

#[test]
fn errors_name_the_key() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("mode = \"aws\"", &[], "IMGCAP_S3_BUCKET"),
        (
            "mode = \"aws\"",
            &[
                ("IMGCAP_S3_BUCKET", "b"),
                ("IMGCAP_DYNAMODB_TABLE", "t"),
                ("IMGCAP_DYNAMODB_JOBS_INDEX", "i"),
                ("IMGCAP_SQS_QUEUE_URL", "http://q"),
                ("IMGCAP_SQS_DLQ_URL", "http://d"),
            ],
            "aws.session_key_secret_arn",
        ),
        (
            "",
            &[
                ("IMGCAP_MODE", "aws"),
                ("IMGCAP_S3_KMS_KEY_ARN", "alias/imgcap"),
            ],
            "aws.s3_kms_key_arn",
        ),
        (
            "",
            &[("IMGCAP_WORKER_CONCURRENCY", "many")],
            "IMGCAP_WORKER_CONCURRENCY",
        ),
        (
            "[rate_limit]\nuploads_per_hour = 0",
            &[],
            "rate_limit.uploads_per_hour",
        ),
        (
            "",
            &[("IMGCAP_RATE_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT", "0")],
            "rate_limit.sign_in_failures_per_account",
        ),
        (
            "",
            &[("IMGCAP_RATE_LIMIT_REGENERATIONS_PER_HOUR", "0")],
            "rate_limit.regenerations_per_hour",
        ),
        ("", &[("IMGCAP_SIGN_UP_POLICY", "invited")], "invited"),
        ("[upload]\nmax_byte = 3", &[], "max_byte"),
        (
            "",
            &[("IMGCAP_SERVER_HEADER_READ_TIMEOUT_MS", "0")],
            "server.header_read_timeout_ms",
        ),
        (
            "[server]\nbody_min_bytes_per_sec = 0",
            &[],
            "server.body_min_bytes_per_sec",
        ),
        (
            "",
            &[("IMGCAP_IMAGE_MEMORY_BUDGET_MB", "8")],
            "upload.image_memory_budget_mb",
        ),
        (
            "",
            &[("IMGCAP_IMAGE_MEMORY_WAIT_MS", "600000")],
            "upload.image_memory_wait_ms",
        ),
        (
            "",
            &[("IMGCAP_CAPTIONER_CHAIN", "embedded, gpt")],
            "captioner.chain",
        ),
        (
            "",
            &[("IMGCAP_CAPTIONER_CHAIN", "bedrock")],
            "captioner.bedrock.model_id",
        ),
        (
            "",
            &[("IMGCAP_CAPTIONER_CHAIN", "sagemaker")],
            "IMGCAP_SAGEMAKER_ENDPOINT",
        ),
        (
            "",
            &[("IMGCAP_REKOGNITION_LABELS", "yes")],
            "IMGCAP_REKOGNITION_LABELS",
        ),
        (
            "[labels]\nrekognition = true\nmin_confidence = 101",
            &[],
            "labels.min_confidence",
        ),
        (
            "",
            &[("IMGCAP_CAPTIONER_CHAIN", "endpoint")],
            "captioner.endpoint.url",
        ),
        (
            "",
            &[("IMGCAP_PUBLIC_BASE_URL", "ftp://x")],
            "public_base_url",
        ),
        ("[oidc]\nclient_id = \"c\"", &[], "oidc.issuer"),
        (
            "",
            &[("IMGCAP_OIDC_LOGIN_TIMEOUT_SECS", "soon")],
            "IMGCAP_OIDC_LOGIN_TIMEOUT_SECS",
        ),
        (
            "",
            &[("IMGCAP_METRICS_CLOUDWATCH_NAMESPACE", "imgcap")],
            "IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT",
        ),
        (
            "",
            &[
                ("IMGCAP_METRICS_CLOUDWATCH_NAMESPACE", "AWS/ECS"),
                ("IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT", "prod"),
            ],
            "metrics.cloudwatch_namespace",
        ),
    ];
    for (file, vars, needle) in cases {
        let err = Config::from_sources(file, env(vars)).unwrap_err();
        assert!(err.contains(needle), "{err} should mention {needle}");
    }
}

#[test]
fn aws_mode_takes_the_terraform_names() {
    let vars = [
        ("IMGCAP_MODE", "aws"),
        ("IMGCAP_S3_BUCKET", "imgcap-dev-images-123"),
        ("IMGCAP_S3_KMS_KEY_ARN", "arn:aws:kms:eu-west-1:123:key/k"),
        ("IMGCAP_DYNAMODB_TABLE", "imgcap-dev"),
        ("IMGCAP_DYNAMODB_JOBS_INDEX", "jobs-by-state"),
        ("IMGCAP_SQS_QUEUE_URL", "https://sqs/q"),
        ("IMGCAP_SQS_DLQ_URL", "https://sqs/dlq"),
        ("IMGCAP_SESSION_KEY_SECRET_ARN", "arn:aws:secretsmanager:s"),
    ];
    let config = Config::from_sources("", env(&vars)).unwrap();
    let resources = config.aws.resources().unwrap();
    assert_eq!(resources.dynamodb_table, "imgcap-dev");
    assert_eq!(resources.sqs_dlq_url, "https://sqs/dlq");
    assert_eq!(
        resources.s3_kms_key_arn.as_deref(),
        Some("arn:aws:kms:eu-west-1:123:key/k")
    );
}

#[test]
fn env_example_lists_every_variable() {
    let example = include_str!("../../../.env.example");
    for (var, _, _) in env::variables() {
        assert!(example.contains(&format!("{var}=")), "{var} is missing");
    }
    for line in example.lines().filter(|l| l.starts_with("IMGCAP_")) {
        let var = line.split('=').next().unwrap();
        let known = env::variables().any(|(v, _, _)| v == var)
            || [
                CONFIG_FILE_VAR,
                ENV_FILE_VAR,
                "IMGCAP_SIGNING_KEY",
                "IMGCAP_SIGNING_KEY_FILE",
                "IMGCAP_HF_API_KEY",
                "IMGCAP_HF_API_KEY_FILE",
                "IMGCAP_ADMIN_PASSWORD",
            ]
            .contains(&var);
        assert!(known, "{var} in .env.example is not read by the app");
    }
}

#[test]
fn an_env_file_gives_settings_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.env");
    std::fs::write(
        &file,
        "# from provision\nIMGCAP_LISTEN_ADDR=127.0.0.1:9\n\nIMGCAP_PUBLIC_BASE_URL=http://from.file\n",
    )
    .unwrap();
    let env = |extra: &[(&str, &str)]| {
        let mut env = vec![(ENV_FILE_VAR.to_owned(), file.display().to_string())];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let missing = dir.path().join("imgcap.toml");
    let config = Config::load_with_env(&missing, env(&[])).unwrap();
    assert_eq!(config.listen_addr.to_string(), "127.0.0.1:9");
    let config = Config::load_with_env(
        &missing,
        env(&[("IMGCAP_PUBLIC_BASE_URL", "http://from.env")]),
    )
    .unwrap();
    assert_eq!(config.public_base_url, "http://from.env");

    std::fs::write(&file, "IMGCAP_LISTEN_ADDR\n").unwrap();
    let err = Config::load_with_env(&missing, env(&[])).unwrap_err();
    assert!(err.contains("web.env:1: expected NAME=value"), "{err}");
    std::fs::remove_file(&file).unwrap();
    let err = Config::load_with_env(&missing, env(&[])).unwrap_err();
    assert!(err.contains("IMGCAP_ENV_FILE: cannot read"), "{err}");
}

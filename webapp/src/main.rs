//! `imgcap-webapp [serve]` runs the web app; `imgcap-webapp create-token --user ID [--admin]`
//! prints a new personal API token; `imgcap-webapp create-admin --user NAME` creates the first
//! administrator account (password from `IMGCAP_ADMIN_PASSWORD` or one line of standard input);
//! `imgcap-webapp create-invite` prints a single-use sign-up invite code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use imgcap_common::server;
use imgcap_webapp::adapters::embedded::db::Db;
use imgcap_webapp::auth::local_accounts::LocalAccounts;
use imgcap_webapp::auth::sign_up::{SignUp, INVITE_LIFETIME};
use imgcap_webapp::config::SignUpPolicy;
use imgcap_webapp::config::{LogFormat, CONFIG_FILE_VAR};
use imgcap_webapp::core::domain::UserId;
use imgcap_webapp::http::server::Listeners;
use imgcap_webapp::telemetry::text_log;
use imgcap_webapp::{Application, Config};

/// Every layer allocates and frees activations of several MB; glibc's malloc hands them back to
/// the kernel and page-faults them in again each time (about 12% of the vision encoder's time on
/// CPU), while mimalloc reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "The imgcap web app")]
struct Cli {
    /// Configuration file; `IMGCAP_*` variables override it.
    #[arg(long, env = CONFIG_FILE_VAR, default_value = "imgcap.toml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app (the default).
    Serve,
    /// Create a personal API token and print it (it is stored hashed and cannot be shown again).
    CreateToken {
        /// The user the token signs in as.
        #[arg(long)]
        user: String,
        /// Give the token the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// Create an administrator account for the sign-in page. The password is read from
    /// `IMGCAP_ADMIN_PASSWORD`, else from the first line of standard input.
    CreateAdmin {
        /// The account's user name.
        #[arg(long)]
        user: String,
    },
    /// Create a single-use invite code for the sign-up page and print it (sign-up policy
    /// `invite`; it is stored hashed and cannot be shown again).
    CreateInvite,
}

const ADMIN_PASSWORD_VAR: &str = "IMGCAP_ADMIN_PASSWORD";

fn admin_password() -> anyhow::Result<String> {
    if let Some(password) = std::env::var(ADMIN_PASSWORD_VAR)
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(password);
    }
    eprintln!("Password for the new administrator (one line):");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// To standard output: JSON lines with every enclosing span, or text with control characters
/// escaped; the filter from `RUST_LOG`, else `info`.
fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    server::init_logging(server::Logging {
        format: match format {
            LogFormat::Json => server::LogFormat::Json,
            LogFormat::Text => server::LogFormat::Text,
        },
        filter,
        stream: server::LogStream::Stdout,
        json: server::JsonLayout {
            flatten_event: false,
            span_list: true,
        },
        text_colours: true,
        text_fields: text_log::fields(),
        service: "imgcap-webapp",
    })
    .expect("Unable to install global subscriber")
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let listeners = Listeners::bind(&config).await?;
            Application::build(config).await?.serve(listeners).await
        }
        Command::CreateToken { user, admin } => {
            let user: UserId = user.parse().map_err(anyhow::Error::msg)?;
            let tokens = imgcap_webapp::startup::api_tokens(&config).await?;
            println!("{}", tokens.create_token(&user, admin).await?);
            Ok(())
        }
        Command::CreateAdmin { user } => {
            let password = admin_password()?;
            let accounts = LocalAccounts::new(Db::open(&config.database_path())?);
            let principal = accounts
                .create(&user, &password, true)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("administrator `{}` created", principal.user);
            Ok(())
        }
        Command::CreateInvite => {
            let policy = config.sign_up_policy();
            if policy != SignUpPolicy::Invite {
                eprintln!(
                    "note: the sign-up policy is {policy:?}, not Invite: the sign-up page does \
                     not ask for invite codes (IMGCAP_SIGN_UP_POLICY=invite)"
                );
            }
            let db = Db::open(&config.database_path())?;
            let sign_up = SignUp::new(db, policy, config.rate_limit.sign_ups_per_ip_per_hour);
            println!("{}", sign_up.create_invite("command line").await?);
            eprintln!(
                "single use, valid for {} days",
                INVITE_LIFETIME.as_secs() / 86_400
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    imgcap_webapp::allocator::return_freed_memory_promptly();
    // SAFETY: no other thread exists yet; the async runtime starts below.
    #[cfg(feature = "embedded-captioner")]
    unsafe {
        imgcap_models::pin_cpu_thread_count()
    };
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => {
            let code = runtime.block_on(serve_cli());
            // Outside the runtime: the export blocks while it sends the last spans.
            drop(runtime);
            imgcap_common::server::flush_traces(std::time::Duration::from_secs(5));
            code
        }
        Err(err) => {
            eprintln!("imgcap-webapp: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_cli() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("imgcap-webapp: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);
    match run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("imgcap-webapp: {err:#}");
            ExitCode::FAILURE
        }
    }
}

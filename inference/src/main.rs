//! `imgcap-inference`: the imgcap model server (SageMaker bring-your-own-container) and the
//! checkpoint tools that go with it. See `--help`.

mod backend;
mod checkpoint;
mod config;
mod connections;
mod error;
mod eval;
mod health;
mod http;
mod openapi;
mod params;
mod queue;
mod telemetry;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use imgcap_common::ServerLimits;
use imgcap_imaging::budget::MemoryBudget;
use imgcap_imaging::ImageLimits;
use imgcap_models::{parse_device, parse_dtype, LoadOptions};
use tokio::sync::{watch, Semaphore};

use crate::backend::BackendSlot;
use crate::config::{Cli, Command, EvalCommand, HealthcheckArgs, LogArgs, LogFormat, ServeArgs};
use crate::connections::ConnectionLimits;
use crate::queue::BatchConfig;

/// Every layer allocates and frees activations of several MB; glibc's malloc hands them back to
/// the kernel and page-faults them in again each time (about 12% of the vision encoder's time on
/// CPU), while mimalloc reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // SAFETY: no other thread exists yet; the async runtime starts below.
    unsafe { imgcap_models::pin_cpu_thread_count() };
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Blocking work still running (a model load cut short by a signal) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    imgcap_common::server::flush_traces(Duration::from_secs(5));
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The operator tools log as text: their output is for people.
fn tool_logging() -> anyhow::Result<()> {
    telemetry::init_logging(&LogArgs {
        log_format: LogFormat::Text,
        log_level: "warn".into(),
    })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::CheckModel(args)) => {
            tool_logging()?;
            let report = checkpoint::check_dir(&args.dir).await;
            report.print(&mut std::io::stdout())?;
            Ok(if report.problems() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(Command::Package(args)) => {
            tool_logging()?;
            let bytes = checkpoint::package(&args.model.explicit(), &args.out).await?;
            println!("wrote {} ({bytes} bytes)", args.out.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Quantize(args)) => {
            tool_logging()?;
            let count =
                checkpoint::quantize(&args.model.explicit(), &args.out, &args.quantization).await?;
            println!(
                "wrote {} ({count} matrices quantized to {})",
                args.out.join("model.gguf").display(),
                args.quantization
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Healthcheck(args)) => Ok(healthcheck(&args)),
        Some(Command::Eval(EvalCommand::Run(args))) => {
            tool_logging()?;
            eval::cli::run(args).await
        }
        Some(Command::Eval(EvalCommand::Compare(args))) => {
            tool_logging()?;
            eval::cli::compare(args).await
        }
        Some(Command::Eval(EvalCommand::Score(args))) => {
            let examples = eval::load(&args.predictions, &args.references, args.tokenized)?;
            let scores = eval::score(&examples);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&scores)?);
            } else {
                scores.print_table(&mut std::io::stdout())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `GET /ping` over plain HTTP/1.1 on the loopback interface (the runtime image has no curl).
fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let ping = || -> anyhow::Result<bool> {
        let port = args.effective_port()?;
        let timeout = Duration::from_millis(args.timeout_ms);
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.write_all(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
    };
    match ping() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("healthcheck: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    telemetry::init_logging(&args.log)?;
    // Listen first: SageMaker (and load balancers) must be able to connect while the model loads.
    let port = args.effective_port()?;
    let address = format!("{}:{port}", args.host);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(address = %listener.local_addr()?, version = env!("CARGO_PKG_VERSION"), "listening");

    let metrics = telemetry::install_recorder()?;
    telemetry::spawn_upkeep(metrics.clone());
    let device = parse_device(&args.device)?;
    let batch_limits = args.batch_limits(!device.is_cpu());
    let load_options = LoadOptions {
        dtype: parse_dtype(&args.dtype, &device)?,
        device,
    };
    let batching = BatchConfig {
        max_batch_size: batch_limits.max_batch_size as usize,
        max_batch_work: batch_limits.max_batch_work,
        max_batch_wait: Duration::from_millis(args.max_batch_wait_ms),
    };
    let backend = Arc::new(BackendSlot::new());
    let state = Arc::new(http::AppState {
        backend: backend.clone(),
        settings: http::Settings {
            limits: ServerLimits {
                max_batch_size: batch_limits.max_batch_size,
                max_batch_work: batch_limits.max_batch_work,
                max_batch_wait_ms: args.max_batch_wait_ms,
                max_concurrent_requests: args.max_concurrent_requests,
                max_body_bytes: args.max_body_bytes,
                request_timeout_ms: args.request_timeout_ms,
                max_image_side: args.max_image_side,
                max_image_pixels: args.max_image_pixels,
            },
            image_limits: ImageLimits {
                max_side: args.max_image_side,
                max_pixels: args.max_image_pixels,
                ..ImageLimits::default()
            },
            image_budget: MemoryBudget::new(
                args.image_memory_budget_mb << 20,
                Duration::from_millis(args.image_memory_wait_ms),
            ),
            request_timeout: Duration::from_millis(args.request_timeout_ms),
            max_request_work: args.max_request_work,
            fault_injection: args.fault_injection,
        },
        request_slots: Arc::new(Semaphore::new(args.max_concurrent_requests as usize)),
        preprocess_slots: Semaphore::new(args.preprocess_workers.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            |n| n as usize,
        )),
        metrics,
    });

    // Shutdown comes from a signal or from a failed model load; the exit code says which.
    let (stop, mut stopped) = watch::channel(None::<ExitCode>);
    let source = args.model.detect();
    let load_stop = stop.clone();
    tokio::spawn(async move {
        match backend
            .load(
                &source,
                &load_options,
                batching,
                args.max_concurrent_requests as usize,
            )
            .await
        {
            Ok(elapsed) => {
                tracing::info!(elapsed_ms = elapsed.as_millis() as u64, "ready");
            }
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), "cannot load the model; exiting");
                let _ = load_stop.send(Some(ExitCode::FAILURE));
            }
        }
    });
    tokio::spawn(async move {
        imgcap_common::server::shutdown_signal().await;
        tracing::info!("shutdown signal received: finishing in-flight requests");
        let _ = stop.send(Some(ExitCode::SUCCESS));
    });

    let mut signalled = stopped.clone();
    let limits = ConnectionLimits {
        max_connections: args.max_connections,
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        keep_alive_timeout: Duration::from_millis(args.keep_alive_timeout_ms),
    };
    let server = connections::serve(listener, http::router(state), limits, async move {
        let _ = signalled.wait_for(Option::is_some).await;
    });
    let drain = Duration::from_millis(args.shutdown_timeout_ms);
    let drain_deadline = async {
        let _ = stopped.wait_for(Option::is_some).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        () = server => {}
        () = drain_deadline => {
            tracing::warn!(timeout_ms = args.shutdown_timeout_ms,
                "in-flight requests did not finish in time; exiting anyway");
        }
    }
    let code = (*stopped.borrow()).unwrap_or(ExitCode::SUCCESS);
    tracing::info!("stopped");
    Ok(code)
}

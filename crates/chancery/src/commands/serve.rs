//! `serve`: a site server on a listener until Ctrl-C or SIGTERM, then a graceful stop.

use crate::cli::ServeArgs;
use crate::Outcome;
use anyhow::{Context, Result};

/// Runs the site server.
pub fn run(args: ServeArgs) -> Result<Outcome> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CHANCERY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        // The actual address (port 0 picks one): scripts and tests read it from here.
        println!("listening on {}", listener.local_addr()?);
        chancery_site::run(listener, args.data, shutdown_signal()).await
    })?;
    Ok(Outcome::Success)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

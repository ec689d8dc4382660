//! One process-wide Tokio runtime for backends whose clients are async inside a blocking
//! [`crate::Backend`]: the S3 backend's requests, and the uploads of a site server's client
//! (`chancery-client`). The caller's thread waits for the result, which works from any thread
//! but the runtime's own workers (a plain thread, a `spawn_blocking` worker, another runtime's
//! task, though an async caller should move the call to a blocking thread first, as the site
//! server does). Nothing run on this runtime calls [`wait`].

use std::future::Future;
use std::sync::OnceLock;

/// The runtime. It lives as long as the process: a Tokio runtime must not be dropped from
/// inside another runtime's async context, which is where a server's last reference to a
/// backend may well go away.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chancery-io")
            .enable_all()
            .build()
            .expect("starting the storage clients' runtime")
    })
}

/// Runs `future` on the runtime and waits for it on this thread.
pub fn wait<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().expect("the storage clients' runtime dropped a request")
}

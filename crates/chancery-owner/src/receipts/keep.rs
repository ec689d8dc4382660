//! A site server's backend whose every write is noted before it is sent and whose receipt is
//! kept as soon as it arrives, whichever part of the owner made the write (backup, sync, key
//! files): nothing above `Backend` needs to know about receipts.

use super::SiteReceipts;
use chancery_client::RemoteBackend;
use chancery_protocol::receipt::Receipt;
use chancery_store::{Backend, ObjectInfo, ObjectKind, SharedParts, StoreError};
use std::sync::Arc;

/// A backend that returns a verified receipt for each write: a site server's client.
pub trait ReceiptSource: Backend {
    /// The receipts of the writes made since the last call.
    fn take_receipts(&self) -> Vec<Receipt>;
}

impl ReceiptSource for RemoteBackend {
    fn take_receipts(&self) -> Vec<Receipt> {
        RemoteBackend::take_receipts(self)
    }
}

impl<B: ReceiptSource + ?Sized> ReceiptSource for Arc<B> {
    fn take_receipts(&self) -> Vec<Receipt> {
        (**self).take_receipts()
    }
}

/// Keeps the receipts of `inner`'s writes in a site's receipt files.
#[derive(Debug)]
pub struct KeepReceipts<B> {
    inner: B,
    log: Arc<SiteReceipts>,
}

impl<B: ReceiptSource> KeepReceipts<B> {
    /// Wraps a backend.
    pub fn new(inner: B, log: Arc<SiteReceipts>) -> Self {
        Self { inner, log }
    }
}

impl<B: ReceiptSource> KeepReceipts<B> {
    /// Keeps the receipts that came back, and notes a put that failed. Other threads'
    /// receipts may come along: each is kept once, whoever takes it.
    fn keep_receipts(&self, result: &Result<(), StoreError>) {
        if result.is_err() {
            self.log.unanswered();
        }
        for receipt in self.inner.take_receipts() {
            self.log.record(&receipt);
        }
    }
}

impl<B: ReceiptSource> Backend for KeepReceipts<B> {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn put(&self, kind: ObjectKind, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.log.sending(kind, name);
        let result = self.inner.put(kind, name, bytes);
        self.keep_receipts(&result);
        result
    }

    fn put_shared(&self, kind: ObjectKind, name: &str, object: Arc<SharedParts>) -> Result<(), StoreError> {
        self.log.sending(kind, name);
        let result = self.inner.put_shared(kind, name, object);
        self.keep_receipts(&result);
        result
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.get(kind, name)
    }

    fn get_reader(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, StoreError> {
        self.inner.get_reader(kind, name)
    }

    fn get_range(&self, kind: ObjectKind, name: &str, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        self.inner.get_range(kind, name, offset, len)
    }

    fn stat(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stat(kind, name)
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(kind)
    }

    fn relist(&self, kind: ObjectKind, known: &[ObjectInfo]) -> Result<Option<Vec<ObjectInfo>>, StoreError> {
        self.inner.relist(kind, known)
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StoreError> {
        self.inner.delete(kind, name)
    }

    /// The site's barrier is the receipts' barrier too: once the site's objects are durable
    /// their receipts are made durable here, before anything that refers to them is sent.
    fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync()?;
        self.log.sync();
        Ok(())
    }
}

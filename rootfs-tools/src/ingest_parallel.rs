//! Several layers of one image converted at once: each layer's decode, apply and mkfs is
//! independent of the others and mostly single-threaded, so a many-layer load (a pull) uses
//! the host's CPUs instead of one. Results keep the image's layer order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use crate::error::Result;
use crate::index::LayerRecord;
use crate::ingest::{ingest_layer, LayerBlob, LayerSpec};
use crate::progress::Progress;
use crate::store::Store;
use crate::workdir::WorkDir;

/// At most this many layers convert at once (each holds a staging tree on disk).
const MAX_WORKERS: usize = 4;

/// One layer to ingest: its spec, and how to open its blob (called on a worker thread).
pub(crate) struct PendingLayer<'a> {
    pub(crate) spec: LayerSpec<'a>,
    pub(crate) open: Box<dyn Fn() -> Result<LayerBlob<'static>> + Sync + 'a>,
}

/// Ingests `layers` into `work`, in parallel when there are several and the host has CPUs
/// to spare; the first error wins and stops the rest. `progress` (not thread-safe) hears
/// from this thread only: one bar per layer when sequential, a count when parallel.
pub(crate) fn ingest_layers(
    store: &Store,
    work: &WorkDir,
    layers: &[PendingLayer<'_>],
    progress: &dyn Progress,
) -> Result<Vec<LayerRecord>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_WORKERS)
        .min(layers.len());
    if workers <= 1 {
        return layers
            .iter()
            .map(|layer| ingest_layer(store, work, (layer.open)()?, &layer.spec, progress))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Vec<Mutex<Option<Result<LayerRecord>>>> =
        layers.iter().map(|_| Mutex::new(None)).collect();
    progress.start(&format!("converting {} layers", layers.len()), None);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            scope.spawn(|| {
                let done_tx = done_tx;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= layers.len() || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let layer = &layers[i];
                    let result = (layer.open)()
                        .and_then(|blob| ingest_layer(store, work, blob, &layer.spec, &()));
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                    let _ = done_tx.send(());
                }
            });
        }
        drop(done_tx);
        // One message per converted layer; the channel closes when every worker is done.
        let mut converted = 0;
        while done_rx.recv().is_ok() {
            converted += 1;
            if !failed.load(Ordering::SeqCst) {
                progress.message(&format!("converted {converted} of {} layers", layers.len()));
            }
        }
    });
    progress.finish();
    let mut records = Vec::with_capacity(layers.len());
    let mut first_error = None;
    for slot in results {
        match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(record)) => records.push(record),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(records),
    }
}

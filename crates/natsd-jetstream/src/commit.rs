//! When stored messages reach the disk, and when they are acknowledged.
//!
//! Under `sync_interval: always` a stream's task writes a batch, hands its acknowledgements
//! and its [`PendingSync`] to the one commit thread, and goes back to taking messages. The
//! thread takes every commit waiting (from every stream), runs their syncs, and only then
//! sends their acknowledgements: one round of syncs covers all that arrived while the last
//! round ran, so durability costs a sync per round, not per message.
//!
//! Under any other interval, what is written is acknowledged at once and a timer syncs
//! every stream once per interval, off the async threads.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use natsd_server::InternalClient;
use natsd_store::PendingSync;

use crate::errors::ApiError;
use crate::service::{pub_ack, Shared};

/// A batch waiting for its sync before its acknowledgements go.
pub(crate) struct Commit {
    pub(crate) sync: PendingSync,
    pub(crate) client: InternalClient,
    /// Reply subjects and the PubAcks they get once the sync succeeds.
    pub(crate) acks: Vec<(Bytes, Vec<u8>)>,
    /// The stream's name, for the error PubAcks a failed sync gets instead.
    pub(crate) stream: String,
}

/// The way to the commit thread.
pub(crate) struct Committer {
    /// `None` when no thread could be started: each commit then syncs where it is made.
    commits: Option<mpsc::Sender<Commit>>,
}

impl Committer {
    /// Starts the commit thread; it ends when the committer is dropped.
    pub(crate) fn start() -> Committer {
        let (commits, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("natsd-commit".into())
            .spawn(move || commit_rounds(&rx));
        Committer {
            commits: thread.ok().map(|_| commits),
        }
    }

    pub(crate) fn submit(&self, commit: Commit) {
        match &self.commits {
            Some(commits) => {
                if let Err(mpsc::SendError(commit)) = commits.send(commit) {
                    finish(commit);
                }
            }
            None => finish(commit),
        }
    }
}

fn commit_rounds(rx: &mpsc::Receiver<Commit>) {
    while let Ok(first) = rx.recv() {
        let mut round = vec![first];
        round.extend(rx.try_iter());
        for commit in round {
            finish(commit);
        }
    }
}

fn finish(commit: Commit) {
    match commit.sync.run() {
        Ok(()) => {
            for (reply, ack) in commit.acks {
                commit.client.send(&reply, b"", ack);
            }
        }
        Err(error) => {
            let failed = ApiError::store_failed(error.to_string());
            let ack = pub_ack(&commit.stream, None, Err(failed));
            for (reply, _) in commit.acks {
                commit.client.send(&reply, b"", ack.clone());
            }
        }
    }
}

/// Syncs every stream once per `interval`, for as long as JetStream runs.
pub(crate) async fn sync_every(shared: Arc<Shared>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let pending = shared.take_syncs();
        let synced = tokio::task::spawn_blocking(move || {
            pending
                .into_iter()
                .map(PendingSync::run)
                .collect::<Vec<_>>()
        })
        .await;
        if let (Ok(results), Some(server)) = (synced, shared.server()) {
            for error in results.into_iter().filter_map(Result::err) {
                server
                    .logger()
                    .error(format_args!("JetStream sync failed: {error}"));
            }
        }
    }
}

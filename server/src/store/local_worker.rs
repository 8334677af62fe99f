//! The thread that owns the local store's connection.
//!
//! Every operation is a job sent to one thread, in order. Jobs that write
//! in a transaction and arrive while others wait are committed together:
//! one transaction, each job in a savepoint of its own, so a job that fails
//! undoes only its own changes and the others still commit. Under a burst
//! (a hub's many users finishing at once) that is one commit instead of
//! hundreds, and no thread is spawned per operation.
//!
//! History entries are written behind ([`Worker::later`]): nobody waits for
//! them, so the thread is not woken for each one. They wait in the queue
//! for at most [`WRITE_BEHIND`], or until any other job comes, and commit
//! together; a read that follows them in the queue sees them. At one
//! generation a millisecond that is one commit for ten entries, on the
//! same few pages, instead of ten. The thread sleeps on its queue while
//! the store is idle; dropping the store commits what waits and ends it.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::{StoreError, StoreResult};

/// Transactions committed together at most.
const MAX_BATCH: usize = 256;

/// How long a write behind waits for company before it commits.
pub(crate) const WRITE_BEHIND: Duration = Duration::from_millis(10);

/// What the caller of a job learns when the job never answered: it
/// panicked, or the thread is gone.
fn stopped() -> StoreError {
    StoreError::Other("the local store stopped on an internal error".to_owned())
}

/// One operation for the thread.
enum Job {
    /// Runs alone, with the connection.
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Runs inside a transaction, maybe with others.
    InTransaction(Box<dyn TxWork>),
    /// A write behind: like `InTransaction`, but nobody waits for it.
    Later(Box<dyn TxWork>),
}

/// Work inside a transaction: run it (whether it succeeded, and how to
/// answer once the transaction ends), or fail it without running it.
trait TxWork: Send {
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Answer);
    fn fail(self: Box<Self>, error: StoreError);
}

/// Answers a job with the outcome of the whole transaction.
type Answer = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

struct Tx<T, F> {
    f: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> TxWork for Tx<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Answer) {
        let Tx { f, reply } = *self;
        let result = f(conn);
        let ok = result.is_ok();
        let answer: Answer = Box::new(move |committed| {
            let _ = reply.send(match (result, committed) {
                (Ok(value), Ok(())) => Ok(value),
                (Ok(_), Err(e)) => Err(e.clone()),
                (Err(e), _) => Err(super::local::sql_error(e)),
            });
        });
        (ok, answer)
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// A write behind: its outcome goes to the log, as nobody waits for it.
struct Behind<F> {
    /// What it writes, for the log ("history entry 01J…").
    what: String,
    f: F,
}

impl<F> TxWork for Behind<F>
where
    F: FnOnce(&Connection) -> rusqlite::Result<()> + Send,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Answer) {
        let Behind { what, f } = *self;
        let result = f(conn);
        let ok = result.is_ok();
        let answer: Answer = Box::new(move |committed| match (result, committed) {
            (Ok(()), Ok(())) => {}
            (Ok(()), Err(e)) => tracing::warn!("{what} could not be saved: {e}"),
            (Err(e), _) => tracing::warn!("{what} could not be saved: {}", super::local::sql_error(e)),
        });
        (ok, answer)
    }

    fn fail(self: Box<Self>, error: StoreError) {
        tracing::warn!("{} could not be saved: {error}", self.what);
    }
}

/// The queue between the callers and the thread.
struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    /// How long writes behind wait ([`WRITE_BEHIND`]).
    delay: Duration,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// A job someone waits for is queued: run everything now.
    urgent: bool,
    /// When the oldest write behind in the queue is due.
    due: Option<Instant>,
    /// The thread waits for `ready` (and needs a signal to see new work).
    sleeping: bool,
    /// The store was dropped: run what is queued, then end.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, job: Job) -> StoreResult<()> {
        let mut state = self.lock();
        if state.closed {
            return Err(stopped());
        }
        let wake = match job {
            Job::Later(_) => {
                // The first write behind sets the time; the thread is told
                // only then, not for each one after it.
                let first = state.due.is_none();
                if first {
                    state.due = Some(Instant::now() + self.delay);
                }
                first
            }
            Job::Alone(_) | Job::InTransaction(_) => {
                state.urgent = true;
                true
            }
        };
        state.jobs.push_back(job);
        let wake = wake && state.sleeping;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }
}

/// The sending end of the thread's queue. Dropping it commits what waits
/// and ends the thread.
pub(crate) struct Worker {
    queue: Arc<Queue>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Start the thread that owns `conn`.
    pub(crate) fn start(conn: Connection) -> std::io::Result<Self> {
        Self::start_with(conn, WRITE_BEHIND)
    }

    fn start_with(conn: Connection, delay: Duration) -> std::io::Result<Self> {
        let queue = Arc::new(Queue { state: Mutex::default(), ready: Condvar::new(), delay });
        let theirs = queue.clone();
        let thread =
            std::thread::Builder::new().name("codegenie-store".to_owned()).spawn(move || serve(conn, &theirs))?;
        Ok(Self { queue, thread: Some(thread) })
    }

    /// Run `f` with the connection, alone.
    pub(crate) async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job::Alone(Box::new(move |conn| {
            let _ = reply.send(f(conn));
        }));
        self.queue.push(job)?;
        answer.await.map_err(|_| stopped())?
    }

    /// Run `f` in a transaction that commits when it returns `Ok` (perhaps
    /// together with other waiting transactions).
    pub(crate) async fn transaction<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue.push(Job::InTransaction(Box::new(Tx { f, reply })))?;
        answer.await.map_err(|_| stopped())?
    }

    /// Write behind: run `f` in a transaction within [`WRITE_BEHIND`] (at
    /// once when another job comes), and return now. A failure goes to the
    /// log as "`what` could not be saved". Jobs queued after it see its
    /// changes.
    pub(crate) fn later<F>(&self, what: String, f: F) -> StoreResult<()>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    {
        self.queue.push(Job::Later(Box::new(Behind { what, f })))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_one();
        // What waits is committed before the store is gone (unless the
        // store is dropped on its own thread, which cannot wait for itself).
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
            tracing::debug!("local store closed");
        }
    }
}

fn serve(mut conn: Connection, queue: &Queue) {
    /// However the thread ends (a bug that panics outside a job too), the
    /// queue takes no more jobs and the waiting ones hear it stopped.
    struct Ended<'a>(&'a Queue);
    impl Drop for Ended<'_> {
        fn drop(&mut self) {
            let jobs = {
                let mut state = self.0.lock();
                state.closed = true;
                std::mem::take(&mut state.jobs)
            };
            // Dropped with the lock released: what a job holds may end
            // with it.
            drop(jobs);
        }
    }
    let _ended = Ended(queue);
    let mut state = queue.lock();
    loop {
        let now = Instant::now();
        let due = state.urgent || state.closed || state.due.is_some_and(|at| at <= now);
        if due && !state.jobs.is_empty() {
            let jobs = std::mem::take(&mut state.jobs);
            state.urgent = false;
            state.due = None;
            drop(state);
            run(&mut conn, jobs);
            state = queue.lock();
            continue;
        }
        if state.closed {
            return;
        }
        state.sleeping = true;
        state = match state.due {
            Some(at) => queue.ready.wait_timeout(state, at - now).unwrap_or_else(|e| e.into_inner()).0,
            None => queue.ready.wait(state).unwrap_or_else(|e| e.into_inner()),
        };
        state.sleeping = false;
    }
}

/// Run the jobs in their order: transactions next to each other together,
/// the others alone.
fn run(conn: &mut Connection, jobs: VecDeque<Job>) {
    let mut batch = Vec::new();
    for job in jobs {
        match job {
            Job::InTransaction(work) | Job::Later(work) => {
                batch.push(work);
                if batch.len() == MAX_BATCH {
                    commit_together(conn, std::mem::take(&mut batch));
                }
            }
            // A panic drops the job's reply: its caller hears of an
            // internal error, and the thread goes on.
            Job::Alone(f) => {
                if !batch.is_empty() {
                    commit_together(conn, std::mem::take(&mut batch));
                }
                drop(catch_unwind(AssertUnwindSafe(|| f(conn))));
            }
        }
    }
    if !batch.is_empty() {
        commit_together(conn, batch);
    }
}

/// One transaction for the batch, a savepoint for each job in it (a job
/// alone needs none: its transaction is its own).
fn commit_together(conn: &mut Connection, mut batch: Vec<Box<dyn TxWork>>) {
    if batch.len() == 1
        && let Some(work) = batch.pop()
    {
        return commit_alone(conn, work);
    }
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let e = super::local::sql_error(e);
            batch.into_iter().for_each(|work| work.fail(e.clone()));
            return;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    let mut broken = None;
    let mut jobs = batch.into_iter();
    for work in jobs.by_ref() {
        let sp = match tx.savepoint() {
            Ok(sp) => sp,
            Err(e) => {
                let e = super::local::sql_error(e);
                work.fail(e.clone());
                broken = Some(e);
                break;
            }
        };
        match catch_unwind(AssertUnwindSafe(|| work.run(&sp))) {
            Ok((true, answer)) => {
                if let Err(e) = sp.commit() {
                    let e = super::local::sql_error(e);
                    answer(Err(&e));
                    broken = Some(e);
                    break;
                }
                answers.push(answer);
            }
            // Dropping the savepoint undoes the job's changes.
            Ok((false, answer)) => {
                drop(sp);
                answers.push(answer);
            }
            Err(_) => drop(sp),
        }
        // Some failures (a full disk, an I/O error) make SQLite roll the
        // whole transaction back: the jobs before are gone too, and a job
        // after must not commit on its own.
        if tx.is_autocommit() {
            broken = Some(StoreError::Unavailable("the local store rolled the write back; try again".to_owned()));
            break;
        }
    }
    let outcome = match broken {
        // Nothing of the batch is kept: every job hears why.
        Some(e) => {
            drop(tx);
            jobs.for_each(|work| work.fail(e.clone()));
            Err(e)
        }
        None => tx.commit().map_err(super::local::sql_error),
    };
    for answer in answers {
        answer(outcome.as_ref().map(|_| ()));
    }
}

fn commit_alone(conn: &mut Connection, work: Box<dyn TxWork>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return work.fail(super::local::sql_error(e)),
    };
    // A panic rolls the transaction back when it is dropped.
    if let Ok((ok, answer)) = catch_unwind(AssertUnwindSafe(|| work.run(&tx))) {
        let outcome = if ok {
            tx.commit().map_err(super::local::sql_error)
        } else {
            drop(tx);
            Ok(())
        };
        answer(outcome.as_ref().map(|_| ()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker() -> Worker {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)").unwrap();
        Worker::start(conn).unwrap()
    }

    fn insert(k: &'static str) -> impl FnOnce(&Connection) -> rusqlite::Result<usize> + Send + 'static {
        move |c: &Connection| c.execute("INSERT INTO t (k) VALUES (?1)", [k])
    }

    async fn keys(w: &Worker) -> Vec<String> {
        w.call(|c| {
            let mut st = c.prepare("SELECT k FROM t ORDER BY k").unwrap();
            Ok(st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect())
        })
        .await
        .unwrap()
    }

    /// A store in a file with WAL, as the local store opens it, and a
    /// second connection to look at it from outside.
    fn file_worker(dir: &std::path::Path, delay: Duration) -> (Worker, Connection) {
        let path = dir.join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)").unwrap();
        (Worker::start_with(conn, delay).unwrap(), Connection::open(&path).unwrap())
    }

    fn count(c: &Connection) -> usize {
        c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    fn behind(k: String) -> impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static {
        move |c: &Connection| c.execute("INSERT INTO t (k) VALUES (?1)", [k]).map(drop)
    }

    /// Writes behind wait (here for an hour) without waking the thread,
    /// until a job someone waits for comes: then they commit together (a
    /// few WAL frames, not two per write) before it, so it sees them.
    #[tokio::test]
    async fn writes_behind_wait_and_commit_together_before_the_next_job() {
        let dir = tempfile::tempdir().unwrap();
        let (w, outside) = file_worker(dir.path(), Duration::from_secs(3600));
        for i in 0..50 {
            w.later("a row".to_owned(), behind(format!("k{i:02}"))).unwrap();
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        assert_eq!(count(&outside), 0, "nothing is due yet");
        assert_eq!(keys(&w).await.len(), 50);
        let frames: i64 = outside.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1)).unwrap();
        assert!(frames < 10, "{frames} WAL frames for 50 rows: they were not committed together");
        // One failing write behind undoes only itself.
        w.later("a duplicate row".to_owned(), behind("k00".to_owned())).unwrap();
        w.later("a row".to_owned(), behind("k50".to_owned())).unwrap();
        assert_eq!(keys(&w).await.len(), 51);
        // Dropping the store commits what waits.
        w.later("a row".to_owned(), behind("k51".to_owned())).unwrap();
        assert_eq!(count(&outside), 51);
        drop(w);
        assert_eq!(count(&outside), 52);
    }

    /// With nothing after them, writes behind are committed within the
    /// delay.
    #[tokio::test]
    async fn writes_behind_commit_on_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let (w, outside) = file_worker(dir.path(), WRITE_BEHIND);
        w.later("a row".to_owned(), behind("a".to_owned())).unwrap();
        let started = Instant::now();
        while count(&outside) == 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "the write behind was never committed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(w);
    }

    /// Work whose answer panics: after the commit, outside any job.
    struct AnswerPanics;
    impl TxWork for AnswerPanics {
        fn run(self: Box<Self>, _: &Connection) -> (bool, Answer) {
            (true, Box::new(|_| panic!("a bug after the commit")))
        }
        fn fail(self: Box<Self>, _: StoreError) {}
    }

    /// When the thread itself stops on a bug, callers hear of it at once
    /// rather than wait for ever.
    #[tokio::test]
    async fn a_thread_stopped_by_a_bug_fails_the_next_jobs() {
        let w = worker();
        w.queue.push(Job::InTransaction(Box::new(AnswerPanics))).unwrap();
        let next = tokio::time::timeout(Duration::from_secs(30), w.transaction(insert("a"))).await;
        assert_eq!(next.expect("the job was left waiting"), Err(stopped()));
        // Once the thread has ended, the queue takes nothing more.
        let started = Instant::now();
        while w.later("a row".to_owned(), behind("b".to_owned())).is_ok() {
            assert!(started.elapsed() < Duration::from_secs(30), "the queue still takes jobs");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(w.transaction(insert("c")).await, Err(stopped()));
    }

    /// Transactions sent at once commit together; one that fails (here a
    /// duplicate key) or panics undoes only its own changes.
    #[tokio::test]
    async fn a_failing_job_in_a_batch_undoes_only_itself() {
        let w = worker();
        let twice = |c: &Connection| -> rusqlite::Result<()> {
            c.execute("INSERT INTO t (k) VALUES ('c')", [])?;
            c.execute("INSERT INTO t (k) VALUES ('a')", [])?;
            Ok(())
        };
        let panics = |c: &Connection| -> rusqlite::Result<()> {
            c.execute("INSERT INTO t (k) VALUES ('d')", [])?;
            panic!("a bug in a job");
        };
        let (a, dup, p, b) = tokio::join!(
            w.transaction(insert("a")),
            w.transaction(twice),
            w.transaction(panics),
            w.transaction(insert("b"))
        );
        assert_eq!(a, Ok(1));
        assert!(matches!(dup, Err(StoreError::Other(_))), "{dup:?}");
        assert_eq!(p, Err(stopped()));
        assert_eq!(b, Ok(1));
        // `c` went with the failed job, `d` with the panicked one.
        assert_eq!(keys(&w).await, ["a", "b"]);
    }

    /// A job after which SQLite rolled the whole transaction back: no job
    /// of the batch is kept, and none is told it was.
    #[tokio::test]
    async fn a_transaction_rolled_back_under_the_batch_fails_the_batch() {
        let w = worker();
        // Hold the thread so that the next jobs queue up as one batch.
        let held = w.call(|_| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            Ok(())
        });
        let rolled_back = |c: &Connection| -> rusqlite::Result<()> {
            c.execute_batch("ROLLBACK")?;
            Err(rusqlite::Error::QueryReturnedNoRows)
        };
        let (_, a, r, b) =
            tokio::join!(held, w.transaction(insert("a")), w.transaction(rolled_back), w.transaction(insert("b")));
        assert!(r.is_err());
        let kept = keys(&w).await;
        for (key, result) in [("a", a), ("b", b)] {
            assert_eq!(result.is_ok(), kept.iter().any(|k| k == key), "{key}: {result:?}, kept {kept:?}");
        }
        assert_eq!(w.transaction(insert("c")).await, Ok(1));
    }

    /// A job alone: its failure or panic undoes its changes, and the
    /// next job runs.
    #[tokio::test]
    async fn a_failing_job_alone_undoes_its_changes() {
        let w = worker();
        let fails = |c: &Connection| -> rusqlite::Result<()> {
            c.execute("INSERT INTO t (k) VALUES ('x')", [])?;
            c.execute("INSERT INTO t (k) VALUES ('x')", [])?;
            Ok(())
        };
        assert!(w.transaction(fails).await.is_err());
        let panics = |c: &Connection| -> rusqlite::Result<()> {
            c.execute("INSERT INTO t (k) VALUES ('y')", [])?;
            panic!("a bug in a job");
        };
        assert_eq!(w.transaction(panics).await, Err(stopped()));
        assert!(keys(&w).await.is_empty());
        assert_eq!(w.transaction(insert("z")).await, Ok(1));
        assert_eq!(keys(&w).await, ["z"]);
    }

    /// A transaction that cannot begin fails its jobs without running
    /// them, and the thread goes on.
    #[tokio::test]
    async fn a_transaction_that_cannot_begin_fails_its_jobs() {
        let w = worker();
        // A transaction left open by a job that runs alone: BEGIN fails.
        w.call(|c| c.execute_batch("BEGIN").map_err(super::super::local::sql_error)).await.unwrap();
        let err = w.transaction(insert("a")).await.unwrap_err();
        assert!(err.to_string().contains("transaction"), "{err}");
        w.call(|c| c.execute_batch("ROLLBACK").map_err(super::super::local::sql_error)).await.unwrap();
        assert!(keys(&w).await.is_empty());
        assert_eq!(w.transaction(insert("a")).await, Ok(1));
    }
}

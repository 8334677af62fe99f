//! The thread that owns the local store's connection.
//!
//! Every operation is a job sent to one thread, in order. Jobs that write
//! in a transaction and arrive while others wait are committed together:
//! one transaction, each job in a savepoint of its own, so a job that fails
//! undoes only its own changes and the others still commit. Under a burst
//! (a hub's many users finishing at once) that is one commit instead of
//! hundreds, and no thread is spawned per operation. The thread sleeps on
//! its queue while the store is idle and ends when the store is dropped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::{StoreError, StoreResult};

/// Transactions committed together at most.
const MAX_BATCH: usize = 256;

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

/// The sending end of the thread's queue.
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    /// Start the thread that owns `conn`.
    pub(crate) fn start(conn: Connection) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new().name("codegenie-store".to_owned()).spawn(move || serve(conn, queue))?;
        Ok(Self { jobs })
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
        self.jobs.send(job).map_err(|_| stopped())?;
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
        self.jobs.send(Job::InTransaction(Box::new(Tx { f, reply }))).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn serve(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(job) => job,
                // The store was dropped.
                Err(_) => return,
            },
        };
        match job {
            // A panic drops the job's reply: its caller hears of an
            // internal error, and the thread goes on.
            Job::Alone(f) => drop(catch_unwind(AssertUnwindSafe(|| f(&mut conn)))),
            Job::InTransaction(first) => {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(Job::InTransaction(work)) => batch.push(work),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_together(&mut conn, batch);
            }
        }
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

//! Every SQL statement of student imports: the welcome emails they queued.

use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

/// Records that these accounts' welcome emails are queued now; returns the ids that had none
/// before (only those get one: at most once, ever).
pub async fn record_welcomes(
    tx: &mut Tx,
    course_id: i64,
    user_ids: &[i64],
    now: OffsetDateTime,
) -> sqlx::Result<Vec<i64>> {
    let mut fresh = Vec::with_capacity(user_ids.len());
    for chunk in user_ids.chunks(crate::db::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO import_welcomes (user_id, course_id, queued_at) VALUES {} \
             ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
            crate::db::values_list(chunk.len(), "({}, $1, $2)", 3)
        );
        let ids = tx_run!(&mut *tx, conn => {
            let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(course_id).bind(now);
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(conn).await
        })?;
        fresh.extend(ids);
    }
    Ok(fresh)
}

/// When an import created this account and queued its welcome email, and for which program (the
/// account's data export shows it).
pub async fn welcome_of(db: &Db, user_id: i64) -> sqlx::Result<Option<(String, OffsetDateTime)>> {
    const SQL: &str = "SELECT c.title, w.queued_at FROM import_welcomes w JOIN courses c ON c.id = w.course_id \
        WHERE w.user_id = $1";
    db_run!(db, pool => sqlx::query_as::<_, (String, OffsetDateTime)>(SQL).bind(user_id).fetch_optional(pool).await)
}

/// One student import at a time (PostgreSQL: a transaction-scoped advisory lock; SQLite's write
/// transactions already run one at a time), so two imports of the same people cannot both try to
/// create their accounts.
pub async fn lock_imports(tx: &mut Tx) -> sqlx::Result<()> {
    const STUDENT_IMPORTS: i64 = 727_181;
    match tx {
        Tx::Sqlite(_) => Ok(()),
        Tx::Postgres(t) => sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(STUDENT_IMPORTS)
            .execute(&mut **t)
            .await
            .map(|_| ()),
    }
}

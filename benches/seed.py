"""Seeds a bench database: STUDENTS students enrolled in every program, each with some lessons
opened and completed, plus the same for one existing account (the bench student).

    python3 benches/seed.py DB_FILE BENCH_EMAIL
"""
import os
import random
import sqlite3
import sys
from datetime import datetime, timezone

db_file, bench_email = sys.argv[1], sys.argv[2]
students = int(os.environ.get("STUDENTS", "5000"))
now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
random.seed(7)

con = sqlite3.connect(db_file, timeout=30)
con.execute("PRAGMA busy_timeout = 30000")
courses = [r[0] for r in con.execute("SELECT id FROM courses WHERE archived = FALSE")]
lessons = {c: [r[0] for r in con.execute(
    "SELECT id FROM lessons WHERE course_id = ? AND archived = FALSE ORDER BY module_id, position", (c,))]
    for c in courses}

with con:
    first = con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM users").fetchone()[0]
    con.executemany(
        "INSERT INTO users (email, name, password_hash, role, email_verified_at, created_at, updated_at) "
        "VALUES (?, ?, 'x', 'student', ?, ?, ?)",
        [(f"student{i}@bench.example", f"Student {i}", now, now, now) for i in range(students)],
    )
    ids = [r[0] for r in con.execute("SELECT id FROM users WHERE email LIKE '%@bench.example'")]
    bench_id = con.execute("SELECT id FROM users WHERE email = ?", (bench_email,)).fetchone()[0]
    con.execute("UPDATE users SET email_verified_at = ? WHERE id = ?", (now, bench_id))
    ids.append(bench_id)
    enrollments, progress = [], []
    for uid in ids:
        for c in courses:
            done = random.randint(0, len(lessons[c]))
            enrollments.append((uid, c, now, now))
            for lid in lessons[c][: done + 1]:
                progress.append((uid, lid, c, now, now, now if lid in lessons[c][:done] else None))
    con.executemany(
        "INSERT OR IGNORE INTO enrollments (user_id, course_id, source, status, created_at, updated_at) "
        "VALUES (?, ?, 'grant', 'active', ?, ?)", enrollments)
    con.executemany(
        "INSERT OR IGNORE INTO lesson_progress (user_id, lesson_id, course_id, first_opened_at, last_opened_at, "
        "completed_at) VALUES (?, ?, ?, ?, ?, ?)", progress)
print(f"seeded {len(ids)} students, {len(enrollments)} enrollments, {len(progress)} progress rows")

//! The dashboard, on the lesson page's straight path: the session's claim (no query), one query for
//! who is asking and where they stand in each program (`store::standings`), then the page filled
//! into a shell rendered once per shape of dashboard (`web::shell`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::{Serde, Value};

use super::store::{self, Standing};
use super::view;
use crate::accounts::session::Claimed;
use crate::accounts::store::User;
use crate::catalog::Catalog;
use crate::catalog::snapshot::Program;
use crate::catalog::store::SyllabusRow;
use crate::context::Ctx;
use crate::domain::UserId;
use crate::preenroll::store::OnList;
use crate::web::AppError;
use crate::web::auth::AuthRejection;
use crate::web::shell::Values;

/// `GET /dashboard`. Anonymous visitors (and sessions that no longer hold) are sent to log in.
pub async fn page(State(ctx): State<Ctx>, claimed: Claimed) -> Result<Response, AuthRejection> {
    let failed = |e: AppError| AuthRejection::Error(e);
    let found = store::standings(&ctx.reads, UserId(claimed.user_id()))
        .await
        .map_err(|e| failed(e.into()))?;
    let (found, standings) = match found {
        Some((user, standings)) => (Some(user), standings),
        None => (None, Vec::new()),
    };
    let user = claimed.admit(&ctx, found).await?;
    let catalog = ctx.catalog();
    let dashboard = Dashboard::of(&ctx, &catalog, &user, standings);
    // "Upgrade to the bundle for $X", for someone who studies part of the bundle, not all of it.
    let upgrade = if dashboard.part_of_bundle(&catalog) {
        crate::payments::flows::upgrade_for(&ctx, &user)
            .await
            .map_err(|e| failed(e.into()))?
    } else {
        None
    };
    let body = dashboard
        .render(&ctx, &catalog, &user, upgrade.as_ref())
        .map_err(failed)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Bytes::from(body),
    )
        .into_response())
}

/// A program the student studies, as its card shows it: the numbers and the next lesson, not the
/// whole syllabus.
struct Card<'a> {
    program: &'a Program,
    counts: view::Counts<'a>,
    certificate: Option<String>,
    /// The program offers check-ins (a link to them).
    checkins: bool,
    /// The modules open to them that have a knowledge check.
    quizzes: Vec<&'a SyllabusRow>,
}

/// Everything the dashboard shows of one student.
struct Dashboard<'a> {
    cards: Vec<Card<'a>>,
    /// Programs paused by a failed plan payment, and the plan order whose card to update.
    paused: Vec<(&'a Program, i64)>,
    /// Certificates of programs no longer studied (a refund ends access to the lessons, not the
    /// fact that the program was finished).
    earlier: Vec<(&'a Program, String)>,
    /// The lists their confirmed address is on, of programs they do not study.
    on_list: Vec<OnList>,
    /// Their address is unconfirmed, so list entries cannot be shown yet.
    list_hidden: bool,
}

const TEMPLATE: &str = "learning/dashboard.html";

impl<'a> Dashboard<'a> {
    fn of(ctx: &Ctx, catalog: &'a Catalog, user: &User, standings: Vec<Standing>) -> Self {
        let now = ctx.clock.now();
        let mut on_list: Vec<(&(i64, String), &OnList)> = standings
            .iter()
            .filter_map(|s| Some((&s.position, s.listed.as_ref()?)))
            .collect();
        on_list.sort_by(|a, b| a.0.cmp(b.0));
        let on_list: Vec<OnList> = on_list.into_iter().map(|(_, l)| l.clone()).collect();
        let mut dashboard = Dashboard {
            cards: Vec::new(),
            paused: Vec::new(),
            earlier: Vec::new(),
            on_list: Vec::new(),
            list_hidden: user.email_verified_at.is_none(),
        };
        for standing in standings {
            let Some(program) = catalog.program_by_id(standing.course_id) else {
                continue;
            };
            if let Some(order) = standing.paused_order {
                dashboard.paused.push((program, order));
            }
            let Some(seat) = standing.seat else {
                if let Some(code) = standing.certificate {
                    dashboard.earlier.push((program, code));
                }
                continue;
            };
            let counts = view::counts(
                &program.rows,
                &standing.done,
                seat.last_lesson_id,
                seat.created_at,
                now,
                &catalog.tz,
            );
            let mut quizzes: Vec<&SyllabusRow> = Vec::new();
            for (row, &open) in program.rows.iter().zip(&counts.open) {
                let counted = quizzes.last().is_some_and(|q| q.module_id == row.module_id);
                if open && !counted && program.quiz(row.module_id).is_some() {
                    quizzes.push(row);
                }
            }
            dashboard.cards.push(Card {
                program,
                counts,
                certificate: standing.certificate,
                checkins: standing.checkins,
                quizzes,
            });
        }
        let position = |slug: &str| catalog.courses.iter().position(|c| c.slug == slug);
        dashboard.cards.sort_by_key(|c| position(&c.program.slug));
        dashboard.paused.sort_by_key(|(p, _)| p.course_id);
        let studied: Vec<&str> = dashboard.cards.iter().map(|c| c.program.slug.as_str()).collect();
        dashboard.on_list = super::not_studied(on_list, &studied);
        dashboard
    }

    /// They study part of the bundle, not all of it.
    fn part_of_bundle(&self, catalog: &Catalog) -> bool {
        let bundle = crate::payments::pricing::bundle_courses(catalog).unwrap_or_default();
        let studies = |id: i64| self.cards.iter().any(|c| c.program.course_id == id);
        bundle.iter().any(|c| studies(c.id)) && !bundle.iter().all(|c| studies(c.id))
    }

    /// The page: filled into the shell of its shape, or (with an upgrade offer, whose prices the
    /// template formats) rendered whole.
    fn render(
        &self,
        ctx: &Ctx,
        catalog: &Catalog,
        user: &User,
        upgrade: Option<&crate::payments::pricing::Upgrade>,
    ) -> Result<String, AppError> {
        if upgrade.is_some() {
            return self.whole(ctx, catalog, user, upgrade);
        }
        let stand_in = user.stand_in(0);
        let key = self.key(ctx, &stand_in.shape);
        let mut own = Values::fill_only(User::SLOTS);
        self.context(&mut own, Value::UNDEFINED, Value::UNDEFINED);
        let shell = catalog.cached_shell(
            crate::catalog::snapshot::ShellKind::Dashboard,
            &key,
            || {
                let mut stand_ins = Values::stand_ins(User::SLOTS);
                let page = self.context(&mut stand_ins, stand_in.value.clone(), Value::UNDEFINED);
                ctx.render_parts(catalog, TEMPLATE, [page])
            },
            own.end(),
        )?;
        let Some(shell) = shell else {
            return self.whole(ctx, catalog, user, None);
        };
        let fill: Vec<&str> = stand_in.fill.iter().chain(own.fill()).map(String::as_str).collect();
        let page = shell.fill(&fill);
        // Every test renders the page the slow way too: the shell must give the same bytes.
        debug_assert_eq!(
            page,
            self.whole(ctx, catalog, user, None)?,
            "the shell of {key} fills differently"
        );
        Ok(page)
    }

    /// The page through the template engine, with this student's own values.
    fn whole(
        &self,
        ctx: &Ctx,
        catalog: &Catalog,
        user: &User,
        upgrade: Option<&crate::payments::pricing::Upgrade>,
    ) -> Result<String, AppError> {
        let mut values = Values::themselves(User::SLOTS);
        let page = self.context(&mut values, Value::from(Serde(user)), Value::from(upgrade.map(Serde)));
        Ok(ctx.render_parts(catalog, TEMPLATE, [page])?)
    }

    /// What the template branches on and the catalogue's own text, which a shell keeps (the shell
    /// cache goes with the catalogue snapshot); the student's values are slots (see `context`).
    fn key(&self, ctx: &Ctx, user_shape: &str) -> String {
        use std::fmt::Write;
        let mut key = format!(
            "{} dashboard {user_shape} hidden={}",
            ctx.templates.generation(),
            self.list_hidden
        );
        for c in &self.cards {
            let quizzes: Vec<i64> = c.quizzes.iter().map(|q| q.module_id).collect();
            let _ = write!(
                key,
                " card={} certificate={} resume={} titled={} later={} checkins={} quizzes={quizzes:?}",
                c.program.course_id,
                c.certificate.is_some(),
                c.counts.resume.is_some(),
                c.counts.resume.is_some_and(|r| !r.lesson_title.is_empty()),
                c.counts.available < c.counts.total,
                c.checkins,
            );
        }
        for (p, _) in &self.paused {
            let _ = write!(key, " paused={}", p.course_id);
        }
        for (p, _) in &self.earlier {
            let _ = write!(key, " earlier={}", p.course_id);
        }
        for l in &self.on_list {
            let _ = write!(key, " listed={}:{}", l.slug, l.status);
        }
        key
    }

    /// The template's context. Every value of the student's own goes through `values`, which hands
    /// the template a stand-in or the value itself, and keeps it for the fill in slot order; what
    /// the template branches on is the same in both (and in [`Dashboard::key`]).
    fn context(&self, values: &mut Values, user: Value, upgrade: Value) -> Value {
        let learning: Vec<Value> = self
            .cards
            .iter()
            .map(|c| {
                let n = &c.counts;
                let later = n.total.saturating_sub(n.available);
                context! {
                    slug => c.program.slug.as_str(),
                    title => c.program.title.as_str(),
                    progress => context! {
                        done => values.number(n.done),
                        available => values.number(n.available),
                        max => values.number(if n.available == 0 { 1 } else { n.available }),
                        shown => values.number(n.done.min(n.available)),
                        later => if later > 0 { values.number(later) } else { Value::from(0) },
                        percent => values.number(n.percent),
                        resume => n.resume.map(|r| values.text(&r.lesson_slug)),
                        // Branched on: a title left empty is printed as itself (and named in the key).
                        resume_title => n.resume.map(|r| if r.lesson_title.is_empty() {
                            Value::from("")
                        } else {
                            values.text(&r.lesson_title)
                        }),
                    },
                    certificate => c.certificate.as_deref().map(|code| values.text(code)),
                    checkins => c.checkins,
                    quizzes => c.quizzes.iter().map(|q| context! {
                        module => q.module_title.as_str(),
                        url => format!("/learn/{}/{}/quiz", c.program.slug, q.module_slug),
                    }).collect::<Vec<_>>(),
                }
            })
            .collect();
        let paused: Vec<Value> = self
            .paused
            .iter()
            .map(|(p, order)| context! { title => p.title.as_str(), order => values.number(*order) })
            .collect();
        let certificates: Vec<Value> = self
            .earlier
            .iter()
            .map(|(p, code)| context! { title => p.title.as_str(), code => values.text(code) })
            .collect();
        // The list's titles as the query read them (a slot: the key names the program and status).
        let preenrolled: Vec<Value> = self
            .on_list
            .iter()
            .map(|l| context! { slug => l.slug.as_str(), title => values.text(&l.title), status => l.status.as_str() })
            .collect();
        context! {
            user,
            programs => context! {
                preenrolled,
                preenrolled_hidden => self.list_hidden,
            },
            learning,
            certificates,
            paused,
            upgrade,
        }
    }
}

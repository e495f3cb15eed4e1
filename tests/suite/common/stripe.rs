//! A Stripe test double: a small HTTP server on 127.0.0.1 that answers the Stripe API calls
//! Learnwell makes, the way Stripe answers them, and records what it was sent.
//!
//! Point the app (or an `async-stripe` client) at [`StripeDouble::base_url`] — async-stripe
//! sends to `{base}v1{path}` — and the double serves:
//!
//! - `POST /v1/checkout/sessions`: creates a Checkout Session (`cs_test_…`) from the
//!   form-encoded parameters (bracket notation, `line_items[0][price_data][unit_amount]=19700`);
//!   the session JSON carries every field async-stripe needs to decode a `CheckoutSession`.
//! - `GET /v1/checkout/sessions/{id}`: the stored session as it is now (404 when unknown).
//! - `POST /v1/refunds`: refunds (part of) a paid payment, by `payment_intent` or `charge`.
//! - `GET /v1/balance`: an empty balance, `livemode` true for `sk_live_…` keys.
//! - Subscriptions (payment plans): a subscription-mode session (a recurring `price_data`) makes,
//!   when completed, a customer (`cus_…`), a subscription (`sub_…`, metadata from
//!   `subscription_data[metadata]`) and its first paid invoice (`in_…`). `GET`/`POST`/`DELETE
//!   /v1/subscriptions/{id}` read, update (`cancel_at`, `proration_behavior`, …) and cancel it;
//!   `GET /v1/invoices/{id}` reads an invoice; `POST /v1/billing_portal/sessions` makes a Billing
//!   Portal session for a known customer. A payment-mode session with `invoice_creation[enabled]`
//!   gets a paid invoice on completion. With `automatic_tax[enabled]=true`, completion adds
//!   [`StripeDouble::set_tax_percent`] of the subtotal as tax (`total_details.amount_tax`).
//!   Tests drive the plan's later life by hand: [`StripeDouble::pay_next_invoice`],
//!   [`StripeDouble::fail_next_invoice`], [`StripeDouble::give_up`], [`StripeDouble::pay_invoice`].
//!
//! Every request needs `Authorization: Bearer sk_…` (else 401; [`REVOKED_SECRET_KEY`] too), as with Stripe. Errors have
//! Stripe's shape, `{"error": {"type": …, "code": …, "message": …}}`, so async-stripe turns them
//! into `StripeError::Stripe(..)`.
//!
//! Tests drive the other side of Stripe by hand: [`StripeDouble::complete`] plays the customer
//! paying, [`StripeDouble::fail_next`] makes the next calls fail, [`StripeDouble::stop`] takes
//! the server down (connections refused). The `event_*` builders make the JSON of the webhook
//! events Stripe would send about the stored objects, and [`sign`] makes the matching
//! `Stripe-Signature` header with Stripe's real scheme.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The API version async-stripe 1.0.0-rc.10 speaks (its `stripe-version` header), and the one
/// the double stamps on events.
pub const API_VERSION: &str = "2026-09-30.endive";

/// A secret key the double accepts (any `sk_…` or `rk_…` key is accepted).
pub const TEST_SECRET_KEY: &str = "sk_test_learnwell_double";

/// A well-formed key the double refuses with 401, as Stripe does a rolled or mistyped key.
pub const REVOKED_SECRET_KEY: &str = "sk_test_learnwell_revoked";

/// A webhook signing secret for tests.
pub const TEST_WEBHOOK_SECRET: &str = "whsec_test_learnwell_double";

/// How long a new Checkout Session stays open unless `expires_at` is sent (Stripe: 24 h).
const SESSION_LIFETIME_SECS: i64 = 24 * 60 * 60;

/// The current Unix time in seconds.
pub fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_secs()).expect("the time fits in i64")
}

/// The `Stripe-Signature` header value Stripe sends with `payload`:
/// `t={timestamp},v1={hex(HMAC-SHA256(secret, "{timestamp}.{payload}"))}`.
pub fn sign(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// [`sign`] with the current time, which is what `Webhook::construct_event` checks against.
pub fn sign_now(payload: &str, secret: &str) -> String {
    sign(payload, secret, now())
}

/// A new id in Stripe's style: `{prefix}_{32 random hex digits}`.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Form parameters as Stripe receives them, decoded (keys too; `+` is a space), in order.
///
/// Keys keep Stripe's bracket notation: `line_items[0][price_data][unit_amount]`,
/// `metadata[order_id]`, `expand[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Decodes an `application/x-www-form-urlencoded` body or a query string.
    pub fn parse(raw: &[u8]) -> Form {
        Form {
            pairs: url::form_urlencoded::parse(raw).into_owned().collect(),
        }
    }

    /// Every (key, value) pair, in the order sent.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value sent for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value sent for `key` (for repeated keys such as `expand[]`).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether anything at all was sent under `name`: the key itself or `name[…]`.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| under(k, name).is_some() || k == name)
    }

    /// The parameters under `prefix[…]`, with `prefix` taken off and the next bracket pair
    /// opened: `nested("line_items[0]")` turns `line_items[0][price_data][currency]` into
    /// `price_data[currency]`.
    pub fn nested(&self, prefix: &str) -> Form {
        Form {
            pairs: self
                .pairs
                .iter()
                .filter_map(|(k, v)| under(k, prefix).map(|rest| (rest, v.clone())))
                .collect(),
        }
    }

    /// A hash such as `metadata`: `metadata[order_id]=12` gives `{"order_id": "12"}`.
    pub fn map(&self, name: &str) -> BTreeMap<String, String> {
        self.nested(name).pairs.into_iter().collect()
    }

    /// How many entries the array `name` has: `line_items[0]…`, `line_items[1]…`, ….
    pub fn array_len(&self, name: &str) -> usize {
        (0..).take_while(|i| self.has(&format!("{name}[{i}]"))).count()
    }

    /// The entries of the array `name`, each as its own [`Form`] (see [`Form::nested`]).
    pub fn array(&self, name: &str) -> Vec<Form> {
        (0..self.array_len(name))
            .map(|i| self.nested(&format!("{name}[{i}]")))
            .collect()
    }

    fn extend(&mut self, other: Form) {
        self.pairs.extend(other.pairs);
    }
}

/// `key` under `prefix[…]`, as the rest with its first bracket pair opened.
fn under(key: &str, prefix: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('[')?;
    let close = rest.find(']')?;
    Some(format!("{}{}", &rest[..close], &rest[close + 1..]))
}

/// One request the double received, whatever it answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path, `/v1/checkout/sessions`, without the query.
    pub path: String,
    /// Header names are lowercase.
    pub headers: BTreeMap<String, String>,
    /// The query parameters, then the form body.
    pub params: Form,
    /// The status the double answered with.
    pub status: u16,
}

impl Recorded {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// An object the API created (a session or a refund), with the parameters it was created from.
#[derive(Clone, Debug)]
pub struct Created {
    pub id: String,
    pub params: Form,
}

/// A canned error answer for [`StripeDouble::fail_next`].
#[derive(Clone, Debug)]
pub struct Failure {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Failure {
    /// Any status with a Stripe-shaped error JSON.
    pub fn json(status: u16, body: Value) -> Failure {
        Failure {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// 500 `api_error`: something went wrong on Stripe's end.
    pub fn api_error() -> Failure {
        Failure::json(
            500,
            error_body("api_error", None, None, "An unknown error occurred (test double)."),
        )
    }

    /// 402 `card_error` / `card_declined`.
    pub fn card_declined() -> Failure {
        Failure::json(
            402,
            error_body("card_error", Some("card_declined"), None, "Your card was declined."),
        )
    }

    /// 429 `rate_limit`.
    pub fn rate_limited() -> Failure {
        Failure::json(
            429,
            error_body(
                "invalid_request_error",
                Some("rate_limit"),
                None,
                "Too many requests hit the API too quickly.",
            ),
        )
    }

    /// An HTML error page, as a proxy in front of Stripe might answer (async-stripe reports it
    /// as `StripeError::JSONDeserialize`, not `StripeError::Stripe`).
    pub fn html(status: u16) -> Failure {
        Failure {
            status,
            content_type: "text/html",
            body: "<html><body><h1>Bad Gateway</h1></body></html>".into(),
        }
    }
}

/// `{"error": {...}}` as Stripe writes it.
fn error_body(kind: &str, code: Option<&str>, param: Option<&str>, message: &str) -> Value {
    let mut error = Map::new();
    error.insert("type".into(), json!(kind));
    error.insert("message".into(), json!(message));
    if let Some(code) = code {
        error.insert("code".into(), json!(code));
        error.insert(
            "doc_url".into(),
            json!(format!("https://stripe.com/docs/error-codes/{code}")),
        );
    }
    if let Some(param) = param {
        error.insert("param".into(), json!(param));
    }
    json!({ "error": Value::Object(error) })
}

/// One JSON object with the keys of all `parts` (objects).
fn merge<const N: usize>(parts: [Value; N]) -> Value {
    let mut merged = Map::new();
    for part in parts {
        if let Value::Object(fields) = part {
            merged.extend(fields);
        }
    }
    Value::Object(merged)
}

/// What the double answers one request with.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Answer {
    fn ok(object: &Value) -> Answer {
        Answer {
            status: 200,
            content_type: "application/json",
            body: object.to_string(),
        }
    }

    fn error(status: u16, kind: &str, code: Option<&str>, param: Option<&str>, message: &str) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: error_body(kind, code, param, message).to_string(),
        }
    }

    fn invalid(param: &str, message: &str) -> Answer {
        Answer::error(400, "invalid_request_error", None, Some(param), message)
    }

    fn missing_param(param: &str) -> Answer {
        Answer::error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            Some(param),
            &format!("Missing required param: {param}."),
        )
    }

    fn no_such(status: u16, object: &str, id: &str, param: &str) -> Answer {
        Answer::error(
            status,
            "invalid_request_error",
            Some("resource_missing"),
            Some(param),
            &format!("No such {object}: '{id}'"),
        )
    }
}

impl From<Failure> for Answer {
    fn from(failure: Failure) -> Answer {
        Answer {
            status: failure.status,
            content_type: failure.content_type,
            body: failure.body,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let request_id = new_id("req");
        (
            status,
            [
                (CONTENT_TYPE, self.content_type),
                (axum::http::HeaderName::from_static("request-id"), request_id.as_str()),
            ],
            self.body,
        )
            .into_response()
    }
}

/// A payment (a PaymentIntent and, once it succeeded, its Charge) behind a completed session.
#[derive(Clone, Debug)]
struct Payment {
    /// `None` until the payment succeeded (an async payment method still processing).
    charge_id: Option<String>,
    amount: i64,
    currency: String,
    email: Option<String>,
    created: i64,
    /// Refund objects, newest first (as Stripe lists them).
    refunds: Vec<Value>,
}

impl Payment {
    fn refunded(&self) -> i64 {
        self.refunds.iter().filter_map(|refund| refund["amount"].as_i64()).sum()
    }
}

/// Everything the double knows, behind one lock.
#[derive(Default)]
struct Ledger {
    requests: Vec<Recorded>,
    /// Sessions by id, as the JSON the API answers with.
    sessions: HashMap<String, Value>,
    sessions_created: Vec<Created>,
    refunds_created: Vec<Created>,
    /// Payments by PaymentIntent id.
    payments: HashMap<String, Payment>,
    failures: VecDeque<Failure>,
    /// Subscriptions and invoices by id, as the JSON the API answers with.
    subscriptions: HashMap<String, Value>,
    invoices: HashMap<String, Value>,
    /// Customers made by completed checkouts.
    customers: Vec<String>,
    portal_sessions: Vec<Created>,
    /// Percent of the subtotal added as tax when a session has automatic tax.
    tax_percent: i64,
    base: String,
}

impl Ledger {
    fn answer(&mut self, base: &str, method: &Method, path: &str, headers: &HeaderMap, params: &Form) -> Answer {
        if let Some(failure) = self.failures.pop_front() {
            return failure.into();
        }
        if let Some(refusal) = check_key(headers) {
            return refusal;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            (&Method::POST, ["v1", "checkout", "sessions"]) => self.create_session(base, params),
            (&Method::GET, ["v1", "checkout", "sessions", id]) => match self.sessions.get(*id) {
                Some(session) => Answer::ok(session),
                None => Answer::no_such(404, "checkout.session", id, "session"),
            },
            (&Method::GET, ["v1", "balance"]) => {
                let key = bearer(headers);
                Answer::ok(&json!({
                    "object": "balance",
                    "available": [],
                    "pending": [],
                    "livemode": key.starts_with("sk_live_") || key.starts_with("rk_live_"),
                }))
            }
            (&Method::GET, ["v1", "subscriptions", id]) => match self.subscriptions.get(*id) {
                Some(sub) => Answer::ok(sub),
                None => Answer::no_such(404, "subscription", id, "id"),
            },
            (&Method::POST, ["v1", "subscriptions", id]) => self.update_subscription(id, params),
            (&Method::DELETE, ["v1", "subscriptions", id]) => self.cancel_subscription(id),
            (&Method::GET, ["v1", "invoices", id]) => match self.invoices.get(*id) {
                Some(invoice) => Answer::ok(invoice),
                None => Answer::no_such(404, "invoice", id, "invoice"),
            },
            (&Method::POST, ["v1", "billing_portal", "sessions"]) => self.portal_session(base, params),
            (&Method::POST, ["v1", "refunds"]) => match self.refund(params) {
                Ok(refund) => {
                    let id = refund["id"].as_str().unwrap_or_default().to_owned();
                    self.refunds_created.push(Created {
                        id,
                        params: params.clone(),
                    });
                    Answer::ok(&refund)
                }
                Err(answer) => answer,
            },
            _ => Answer::error(
                404,
                "invalid_request_error",
                None,
                None,
                &format!("Unrecognized request URL ({method}: {path})."),
            ),
        }
    }

    fn create_session(&mut self, base: &str, params: &Form) -> Answer {
        let Some(mode) = params.get("mode") else {
            return Answer::missing_param("mode");
        };
        if !["payment", "setup", "subscription"].contains(&mode) {
            return Answer::invalid("mode", "Invalid mode: must be one of payment, setup, or subscription");
        }
        let items = params.array("line_items");
        if mode != "setup" && items.is_empty() {
            return Answer::missing_param("line_items");
        }
        let mut amount_total = 0_i64;
        let mut currency = params.get("currency").map(str::to_owned);
        for (i, item) in items.iter().enumerate() {
            let quantity = match item.get("quantity").map(str::parse::<i64>) {
                None => 1,
                Some(Ok(quantity)) if quantity > 0 => quantity,
                Some(_) => return Answer::invalid(&format!("line_items[{i}][quantity]"), "Invalid integer"),
            };
            let Some(price) = item.get("price_data[unit_amount]") else {
                return match item.get("price") {
                    Some(price) => Answer::no_such(400, "price", price, &format!("line_items[{i}][price]")),
                    None => Answer::missing_param(&format!("line_items[{i}][price_data][unit_amount]")),
                };
            };
            let Ok(unit_amount) = price.parse::<i64>() else {
                return Answer::invalid(&format!("line_items[{i}][price_data][unit_amount]"), "Invalid integer");
            };
            let recurring = item.has("price_data[recurring]");
            if mode == "subscription" && !recurring {
                return Answer::invalid(
                    &format!("line_items[{i}][price_data][recurring]"),
                    "You must provide at least one recurring price in `subscription` mode when using prices.",
                );
            }
            if mode == "payment" && recurring {
                return Answer::invalid(
                    &format!("line_items[{i}][price_data][recurring]"),
                    "You specified `payment` mode but passed a recurring price.",
                );
            }
            if let Some(interval) = item.get("price_data[recurring][interval]")
                && !["day", "week", "month", "year"].contains(&interval)
            {
                return Answer::invalid(
                    &format!("line_items[{i}][price_data][recurring][interval]"),
                    "Invalid interval",
                );
            }
            let Some(item_currency) = item.get("price_data[currency]") else {
                return Answer::missing_param(&format!("line_items[{i}][price_data][currency]"));
            };
            match &currency {
                Some(c) if c != item_currency => {
                    return Answer::invalid(
                        &format!("line_items[{i}][price_data][currency]"),
                        "All line items must use the same currency.",
                    );
                }
                Some(_) => {}
                None => currency = Some(item_currency.to_owned()),
            }
            amount_total += unit_amount * quantity;
        }

        let id = new_id("cs_test");
        let created = now();
        let expires_at = params
            .get("expires_at")
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(created + SESSION_LIFETIME_SECS);
        let allow_promotion_codes = params.get("allow_promotion_codes").map(|v| v == "true");
        // In parts: one `json!` this size would pass the macro recursion limit.
        let session = merge([
            json!({
            "id": id,
            "object": "checkout.session",
            "after_expiration": null,
            "allow_promotion_codes": allow_promotion_codes,
            "amount_subtotal": amount_total,
            "amount_total": amount_total,
            "automatic_tax": { "enabled": params.get("automatic_tax[enabled]") == Some("true"), "liability": null, "provider": null, "status": null },
            "billing_address_collection": params.get("billing_address_collection"),
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "client_secret": null,
            "consent": null,
            "consent_collection": null,
            "created": created,
            "currency": currency,
            "custom_fields": [],
            "custom_text": {
                "after_submit": null,
                "shipping_address": null,
                "submit": null,
                "terms_of_service_acceptance": null
            },
            }),
            json!({
            "customer": params.get("customer"),
            "customer_creation": if params.has("customer") { Value::Null } else { json!("if_required") },
            "customer_details": null,
            "customer_email": params.get("customer_email"),
            "discounts": [],
            "expires_at": expires_at,
            "invoice": null,
            "livemode": false,
            "locale": params.get("locale"),
            "metadata": params.map("metadata"),
            "mode": mode,
            "payment_intent": null,
            "payment_link": null,
            "payment_method_collection": "if_required",
            "payment_method_types": ["card"],
            }),
            json!({
            "payment_status": if mode == "setup" { "no_payment_required" } else { "unpaid" },
            "phone_number_collection": { "enabled": false },
            "recovered_from": null,
            "setup_intent": null,
            "shipping_address_collection": null,
            "shipping_cost": null,
            "shipping_options": [],
            "status": "open",
            "submit_type": params.get("submit_type"),
            "subscription": null,
            "success_url": params.get("success_url"),
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "ui_mode": params.get("ui_mode").unwrap_or("hosted_page"),
            "url": format!("{base}pay/{id}"),
            }),
        ]);
        let mut session = session;
        if mode == "payment" {
            session["invoice_creation"] = json!({
                "enabled": params.get("invoice_creation[enabled]") == Some("true"),
                "invoice_data": { "account_tax_ids": null, "custom_fields": null, "description": null,
                                  "footer": null, "issuer": null, "metadata": {}, "rendering_options": null },
            });
        }
        if mode == "subscription" {
            session["payment_method_collection"] = json!("always");
        }
        self.sessions.insert(id.clone(), session.clone());
        self.sessions_created.push(Created {
            id,
            params: params.clone(),
        });
        Answer::ok(&session)
    }

    /// Refunds (part of) a payment named by `payment_intent` or `charge`; the refund object.
    fn refund(&mut self, params: &Form) -> Result<Value, Answer> {
        let pi = match (params.get("payment_intent"), params.get("charge")) {
            (Some(pi), _) => {
                if !self.payments.contains_key(pi) {
                    return Err(Answer::no_such(400, "payment_intent", pi, "payment_intent"));
                }
                pi.to_owned()
            }
            (None, Some(charge)) => self
                .payments
                .iter()
                .find(|(_, payment)| payment.charge_id.as_deref() == Some(charge))
                .map(|(pi, _)| pi.clone())
                .ok_or_else(|| Answer::no_such(400, "charge", charge, "charge"))?,
            (None, None) => {
                return Err(Answer::invalid(
                    "payment_intent",
                    "One of the following params should be provided for this request: payment_intent or charge.",
                ));
            }
        };
        let payment = self.payments.get_mut(&pi).expect("looked up above");
        let Some(charge_id) = payment.charge_id.clone() else {
            return Err(Answer::invalid(
                "payment_intent",
                &format!("This PaymentIntent ({pi}) does not have a successful charge to refund."),
            ));
        };
        let remaining = payment.amount - payment.refunded();
        if remaining <= 0 {
            return Err(Answer::error(
                400,
                "invalid_request_error",
                Some("charge_already_refunded"),
                None,
                &format!("Charge {charge_id} has already been refunded."),
            ));
        }
        let amount = match params.get("amount").map(str::parse::<i64>) {
            None => remaining,
            Some(Ok(amount)) if amount > 0 && amount <= remaining => amount,
            Some(Ok(amount)) if amount > remaining => {
                return Err(Answer::invalid(
                    "amount",
                    &format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"),
                ));
            }
            Some(_) => return Err(Answer::invalid("amount", "Invalid positive integer")),
        };
        let refund = json!({
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": null,
            "charge": charge_id,
            "created": now(),
            "currency": payment.currency,
            "metadata": params.map("metadata"),
            "payment_intent": pi,
            "reason": params.get("reason"),
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null,
        });
        payment.refunds.insert(0, refund.clone());
        Ok(refund)
    }

    fn session_mut(&mut self, session_id: &str) -> &mut Value {
        self.sessions
            .get_mut(session_id)
            .unwrap_or_else(|| panic!("the Stripe double has no session {session_id}"))
    }

    /// The customer finished checkout: the session is complete and has a PaymentIntent;
    /// with `paid`, the payment succeeded (a Charge exists). Returns the PaymentIntent id.
    fn finish_checkout(&mut self, session_id: &str, paid: bool) -> String {
        let session = self.session_mut(session_id);
        let pi = match session["payment_intent"].as_str() {
            Some(pi) => pi.to_owned(),
            None => new_id("pi"),
        };
        session["status"] = json!("complete");
        session["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
        session["payment_intent"] = json!(pi);
        session["url"] = Value::Null;
        let email = session["customer_email"].as_str().map(str::to_owned);
        session["customer_details"] = json!({
            "address": null,
            "email": email,
            "name": null,
            "phone": null,
            "tax_exempt": "none",
            "tax_ids": [],
        });
        // Automatic tax: the buyer's address is known now; tax is added to the subtotal.
        let tax_percent = self.tax_percent;
        let session = self.session_mut(session_id);
        let mut tax = session["total_details"]["amount_tax"].as_i64().unwrap_or(0);
        if session["automatic_tax"]["enabled"] == json!(true) && tax == 0 {
            let subtotal = session["amount_subtotal"].as_i64().unwrap_or(0);
            tax = subtotal * tax_percent / 100;
            session["amount_total"] = json!(subtotal + tax);
            session["total_details"]["amount_tax"] = json!(tax);
            session["automatic_tax"]["status"] = json!("complete");
        }
        let amount = session["amount_total"].as_i64().unwrap_or(0);
        let currency = session["currency"].as_str().unwrap_or("usd").to_owned();
        let mode = session["mode"].as_str().unwrap_or("payment").to_owned();
        let wants_invoice = session["invoice_creation"]["enabled"] == json!(true);
        let already = session["invoice"].is_string();
        let payment = self.payments.entry(pi.clone()).or_insert_with(|| Payment {
            charge_id: None,
            amount,
            currency: currency.clone(),
            email: email.clone(),
            created: now(),
            refunds: Vec::new(),
        });
        if paid && payment.charge_id.is_none() {
            payment.charge_id = Some(new_id("ch"));
        }
        if paid && !already && mode == "subscription" {
            let customer = new_id("cus");
            self.customers.push(customer.clone());
            let session = self.sessions[session_id].clone();
            // The subscription's metadata is what `subscription_data[metadata]` said.
            let metadata: Value = self
                .sessions_created
                .iter()
                .find(|c| c.id == session_id)
                .map(|c| json!(c.params.map("subscription_data[metadata]")))
                .unwrap_or_else(|| json!({}));
            let sub_id = new_id("sub");
            let created = now();
            let sub = merge([
                json!({
                    "id": sub_id, "object": "subscription", "application": null,
                    "automatic_tax": { "enabled": session["automatic_tax"]["enabled"], "liability": null, "disabled_reason": null },
                    "billing_cycle_anchor": created, "billing_mode": { "type": "classic" }, "billing_schedules": [],
                    "cancel_at": null, "cancel_at_period_end": false, "canceled_at": null,
                    "collection_method": "charge_automatically", "created": created, "currency": currency,
                    "customer": customer, "description": null, "discounts": [], "ended_at": null,
                }),
                json!({
                    "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
                    "items": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/subscription_items?subscription={sub_id}") },
                    "latest_invoice": null, "livemode": false, "metadata": metadata, "start_date": created, "status": "active",
                    // Not Stripe's: what each later invoice charges (the plan's amount and its tax).
                    "plan_amount": session["amount_subtotal"], "tax": tax,
                }),
            ]);
            self.subscriptions.insert(sub_id.clone(), sub);
            let invoice = self.new_invoice(&sub_id, Some(&pi), "subscription_create");
            let session = self.session_mut(session_id);
            session["subscription"] = json!(sub_id);
            session["customer"] = json!(customer);
            session["invoice"] = json!(invoice);
            // Stripe names no PaymentIntent on a subscription-mode session: it is the invoice's.
            session["payment_intent"] = Value::Null;
        } else if paid && !already && wants_invoice {
            let invoice = self.new_one_time_invoice(session_id, &pi);
            self.session_mut(session_id)["invoice"] = json!(invoice);
        }
        pi
    }

    /// A paid invoice for a one-time purchase (`invoice_creation`).
    fn new_one_time_invoice(&mut self, session_id: &str, pi: &str) -> String {
        let session = self.sessions[session_id].clone();
        let id = new_id("in");
        let amount = session["amount_total"].as_i64().unwrap_or(0);
        let tax = session["total_details"]["amount_tax"].as_i64().unwrap_or(0);
        let invoice = invoice_json(
            &self.base,
            &id,
            None,
            &Value::Null,
            session["customer"].as_str(),
            session["currency"].as_str().unwrap_or("usd"),
            amount,
            tax,
            Some(pi),
            "manual",
        );
        self.invoices.insert(id.clone(), invoice);
        id
    }

    /// A new invoice of a subscription for its amount: paid with `pi` (made up when `None`), or
    /// open and failed when `pi` is `None` and `reason` says so. Returns its id.
    fn new_invoice(&mut self, sub_id: &str, pi: Option<&str>, reason: &str) -> String {
        let sub = self.subscriptions[sub_id].clone();
        let id = new_id("in");
        let subtotal = sub["plan_amount"].as_i64().unwrap_or(0);
        let tax = sub["tax"].as_i64().unwrap_or(0);
        let currency = sub["currency"].as_str().unwrap_or("usd").to_owned();
        let failed = reason == "failed";
        let pi = pi.map(str::to_owned).unwrap_or_else(|| new_id("pi"));
        let mut invoice = invoice_json(
            &self.base,
            &id,
            Some(sub_id),
            &sub["metadata"],
            sub["customer"].as_str(),
            &currency,
            subtotal + tax,
            tax,
            (!failed).then_some(pi.as_str()),
            if failed { "subscription_cycle" } else { reason },
        );
        if failed {
            invoice["status"] = json!("open");
            invoice["amount_paid"] = json!(0);
            invoice["amount_remaining"] = json!(subtotal + tax);
            invoice["attempted"] = json!(true);
            invoice["attempt_count"] = json!(1);
            invoice["status_transitions"]["paid_at"] = Value::Null;
        } else {
            let payment = self.payments.entry(pi.clone()).or_insert_with(|| Payment {
                charge_id: None,
                amount: subtotal + tax,
                currency,
                email: None,
                created: now(),
                refunds: Vec::new(),
            });
            if payment.charge_id.is_none() {
                payment.charge_id = Some(new_id("ch"));
            }
        }
        self.invoices.insert(id.clone(), invoice);
        if let Some(sub) = self.subscriptions.get_mut(sub_id) {
            sub["latest_invoice"] = json!(id);
        }
        id
    }

    fn update_subscription(&mut self, id: &str, params: &Form) -> Answer {
        let Some(sub) = self.subscriptions.get_mut(id) else {
            return Answer::no_such(404, "subscription", id, "id");
        };
        if sub["status"] == json!("canceled") {
            return Answer::error(
                400,
                "invalid_request_error",
                None,
                None,
                "A canceled subscription can only update its cancellation_details and metadata.",
            );
        }
        if let Some(at) = params.get("cancel_at") {
            let Ok(at) = at.parse::<i64>() else {
                return Answer::invalid("cancel_at", "Invalid integer");
            };
            sub["cancel_at"] = json!(at);
        }
        if let Some(flag) = params.get("cancel_at_period_end") {
            sub["cancel_at_period_end"] = json!(flag == "true");
        }
        for (key, value) in params.map("metadata") {
            sub["metadata"][key] = json!(value);
        }
        Answer::ok(sub)
    }

    fn cancel_subscription(&mut self, id: &str) -> Answer {
        let Some(sub) = self.subscriptions.get_mut(id) else {
            return Answer::no_such(404, "subscription", id, "id");
        };
        if sub["status"] == json!("canceled") {
            return Answer::error(
                400,
                "invalid_request_error",
                Some("resource_missing"),
                None,
                &format!("No such subscription: '{id}' (it is already canceled)"),
            );
        }
        sub["status"] = json!("canceled");
        sub["canceled_at"] = json!(now());
        sub["ended_at"] = json!(now());
        Answer::ok(sub)
    }

    fn portal_session(&mut self, base: &str, params: &Form) -> Answer {
        let Some(customer) = params.get("customer") else {
            return Answer::missing_param("customer");
        };
        if !self.customers.iter().any(|c| c == customer) {
            return Answer::no_such(400, "customer", customer, "customer");
        }
        let id = new_id("bps");
        self.portal_sessions.push(Created {
            id: id.clone(),
            params: params.clone(),
        });
        Answer::ok(&json!({
            "id": id, "object": "billing_portal.session", "configuration": "bpc_test_default",
            "created": now(), "customer": customer, "customer_account": null, "flow": null, "livemode": false,
            "locale": null, "on_behalf_of": null, "return_url": params.get("return_url"),
            "url": format!("{base}portal/{id}"),
        }))
    }

    /// The Charge object for a payment, as Stripe renders it (with its refunds).
    fn charge(&self, pi: &str) -> Option<Value> {
        let payment = self.payments.get(pi)?;
        let charge_id = payment.charge_id.as_deref()?;
        let refunded = payment.refunded();
        Some(merge([
            json!({
            "id": charge_id,
            "object": "charge",
            "amount": payment.amount,
            "amount_captured": payment.amount,
            "amount_refunded": refunded,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            "balance_transaction": null,
            "billing_details": {
                "address": null,
                "email": payment.email,
                "name": null,
                "phone": null,
                "tax_id": null,
            },
            "calculated_statement_descriptor": "LEARNWELL",
            "captured": true,
            "created": payment.created,
            "currency": payment.currency,
            "customer": null,
            "description": null,
            }),
            json!({
            "disputed": false,
            "failure_code": null,
            "failure_message": null,
            "livemode": false,
            "metadata": {},
            "on_behalf_of": null,
            "paid": true,
            "payment_intent": pi,
            "payment_method": null,
            "receipt_email": payment.email,
            "receipt_url": null,
            "refunded": refunded >= payment.amount,
            "refunds": {
                "object": "list",
                "data": payment.refunds,
                "has_more": false,
                "url": format!("/v1/charges/{charge_id}/refunds"),
            },
            "review": null,
            "shipping": null,
            "source_transfer": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": "succeeded",
            "transfer_group": null,
            }),
        ]))
    }
}

/// An invoice as Stripe renders it (every field async-stripe's `Invoice` needs), paid with
/// `paid_with` (a PaymentIntent) when given.
#[allow(clippy::too_many_arguments)]
fn invoice_json(
    base: &str,
    id: &str,
    subscription: Option<&str>,
    sub_metadata: &Value,
    customer: Option<&str>,
    currency: &str,
    total: i64,
    tax: i64,
    paid_with: Option<&str>,
    reason: &str,
) -> Value {
    let created = now();
    let parent = match subscription {
        Some(sub) => json!({
            "type": "subscription_details",
            "quote_details": null,
            "subscription_details": { "metadata": sub_metadata, "subscription": sub },
        }),
        None => Value::Null,
    };
    let payments: Vec<Value> = paid_with
        .map(|pi| {
            json!({
                "id": new_id("inpay"), "object": "invoice_payment", "amount_paid": total, "amount_requested": total,
                "created": created, "currency": currency, "invoice": id, "is_default": true, "livemode": false,
                "payment": { "type": "payment_intent", "payment_intent": pi, "charge": null },
                "status": "paid", "status_transitions": { "canceled_at": null, "paid_at": created },
            })
        })
        .into_iter()
        .collect();
    let total_taxes: Vec<Value> = if tax > 0 {
        vec![
            json!({ "amount": tax, "tax_behavior": "exclusive", "taxability_reason": "standard_rated",
                     "taxable_amount": total - tax, "type": "tax_rate_details", "tax_rate_details": null }),
        ]
    } else {
        Vec::new()
    };
    let paid = paid_with.is_some();
    merge([
        json!({
        "id": id, "object": "invoice", "account_country": "US", "account_name": "Learnwell test",
        "amount_due": total, "amount_overpaid": 0, "amount_paid": if paid { total } else { 0 },
        "amount_remaining": if paid { 0 } else { total }, "amount_shipping": 0,
        "attempt_count": u64::from(paid), "attempted": paid, "auto_advance": false,
        "automatic_tax": { "enabled": tax > 0, "liability": null, "provider": null, "status": null },
        "billing_reason": reason, "collection_method": "charge_automatically", "created": created,
        "currency": currency, "customer": customer, "customer_email": null, "default_tax_rates": [],
        "discounts": [],
        }),
        json!({
        "hosted_invoice_url": format!("{base}invoice/{id}"),
        "invoice_pdf": format!("{base}invoice/{id}/pdf"),
        "issuer": { "type": "self" },
        "lines": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{id}/lines") },
        "livemode": false, "metadata": {}, "number": format!("LWTEST-{}", &id[3..9]),
        "parent": parent,
        "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
        "payments": { "object": "list", "data": payments, "has_more": false, "url": "/v1/invoice_payments" },
        "period_end": created, "period_start": created,
        }),
        json!({
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0, "starting_balance": 0,
        "status": if paid { "paid" } else { "open" },
        "status_transitions": { "finalized_at": created, "marked_uncollectible_at": null,
                                "paid_at": if paid { json!(created) } else { Value::Null }, "voided_at": null },
        "subscription": subscription, "subtotal": total - tax, "subtotal_excluding_tax": total - tax,
        "total": total, "total_excluding_tax": total - tax, "total_taxes": total_taxes,
        }),
    ])
}

/// The key a request carries (`Authorization: Bearer KEY`), or "".
fn bearer(headers: &HeaderMap) -> &str {
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    auth.strip_prefix("Bearer ").unwrap_or("").trim()
}

/// `None` when the request carries a secret key (other than [`REVOKED_SECRET_KEY`]), else
/// Stripe's 401.
fn check_key(headers: &HeaderMap) -> Option<Answer> {
    let key = bearer(headers);
    if (key.starts_with("sk_") || key.starts_with("rk_")) && key != REVOKED_SECRET_KEY {
        return None;
    }
    let message = if key.is_empty() {
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').".to_owned()
    } else {
        format!("Invalid API Key provided: {key}")
    };
    Some(Answer::error(401, "invalid_request_error", None, None, &message))
}

/// State shared with the server task.
struct Shared {
    base: String,
    ledger: Mutex<Ledger>,
}

impl Shared {
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panicking test thread must not hide what was recorded from the others.
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running server; aborted when the last [`StripeDouble`] clone goes away.
struct Server {
    addr: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    fn task(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task().take() {
            task.abort();
        }
    }
}

/// The Stripe test double; see the module documentation. Cheap to clone: clones share one
/// server and one record.
#[derive(Clone)]
pub struct StripeDouble {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

impl StripeDouble {
    /// Starts the server on 127.0.0.1 and a free port, in a background task.
    pub async fn start() -> StripeDouble {
        // Clients made straight from async-stripe (not through the app) need rustls's provider chosen
        // too: more than one crypto backend is in the test build.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the Stripe double");
        let addr = listener.local_addr().expect("the Stripe double's address");
        let shared = Arc::new(Shared {
            base: format!("http://{addr}/"),
            ledger: Mutex::new(Ledger {
                base: format!("http://{addr}/"),
                tax_percent: 10,
                ..Ledger::default()
            }),
        });
        let task = serve(listener, shared.clone());
        StripeDouble {
            shared,
            server: Arc::new(Server {
                addr,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// `http://127.0.0.1:PORT/`, for `ClientBuilder::url` (and `STRIPE_API_BASE`).
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    /// Where it listens (also while stopped: [`resume`](Self::resume) comes back here).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// An async-stripe client pointed at the double, with [`TEST_SECRET_KEY`].
    pub fn client(&self) -> ::stripe::Client {
        ::stripe::ClientBuilder::new(TEST_SECRET_KEY)
            .url(self.base_url())
            .build()
            .expect("a Stripe client for the double")
    }

    /// Takes the server down: the port is closed, so calls fail to connect
    /// (async-stripe: `StripeError::ClientError`). Connections already open are not cut.
    pub async fn stop(&self) {
        let task = self.server.task().take();
        if let Some(task) = task {
            task.abort();
            // Wait until the task (and with it the listener) is really gone.
            let _ = task.await;
        }
    }

    /// Brings a stopped server back on the same port, with everything it recorded.
    pub async fn resume(&self) {
        if self.is_running() {
            return;
        }
        let listener = TcpListener::bind(self.server.addr)
            .await
            .expect("bind the Stripe double again");
        let task = serve(listener, self.shared.clone());
        *self.server.task() = Some(task);
    }

    /// Whether the server is up (not [`stop`](Self::stop)ped).
    pub fn is_running(&self) -> bool {
        self.server.task().is_some()
    }

    /// The next `n` API calls are answered with `failure` (recorded as usual, nothing else
    /// happens), before the key is even checked.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut ledger = self.shared.ledger();
        ledger.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Every request received so far, in order, failed ones included.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.ledger().requests.clone()
    }

    /// The Checkout Sessions created through the API, in order, with their parameters.
    pub fn sessions_created(&self) -> Vec<Created> {
        self.shared.ledger().sessions_created.clone()
    }

    /// The refunds created through the API, in order, with their parameters.
    pub fn refunds(&self) -> Vec<Created> {
        self.shared.ledger().refunds_created.clone()
    }

    /// A session's JSON as the API would answer it now.
    pub fn session(&self, session_id: &str) -> Option<Value> {
        self.shared.ledger().sessions.get(session_id).cloned()
    }

    /// The PaymentIntent id of a completed session.
    pub fn payment_intent(&self, session_id: &str) -> Option<String> {
        let ledger = self.shared.ledger();
        let session = ledger.sessions.get(session_id)?;
        session["payment_intent"].as_str().map(str::to_owned)
    }

    /// The Charge id of a payment that succeeded.
    pub fn charge_id(&self, payment_intent: &str) -> Option<String> {
        self.shared.ledger().payments.get(payment_intent)?.charge_id.clone()
    }

    /// The Charge JSON (with its refunds) of a payment that succeeded.
    pub fn charge(&self, payment_intent: &str) -> Option<Value> {
        self.shared.ledger().charge(payment_intent)
    }

    /// The customer pays by card: the session becomes `complete` / `paid`, with a new
    /// PaymentIntent (returned) and Charge. Panics on an unknown session.
    pub fn complete(&self, session_id: &str) -> String {
        self.shared.ledger().finish_checkout(session_id, true)
    }

    /// The customer finishes checkout with a delayed payment method: `complete` / `unpaid`,
    /// with a PaymentIntent (returned) that has no Charge yet.
    pub fn complete_async_pending(&self, session_id: &str) -> String {
        self.shared.ledger().finish_checkout(session_id, false)
    }

    /// The delayed payment succeeded: `paid`, and a Charge exists. Returns the PaymentIntent.
    pub fn async_payment_succeeded(&self, session_id: &str) -> String {
        self.shared.ledger().finish_checkout(session_id, true)
    }

    /// The delayed payment failed: the session stays `complete` / `unpaid`.
    pub fn async_payment_failed(&self, session_id: &str) {
        let mut ledger = self.shared.ledger();
        ledger.session_mut(session_id)["payment_status"] = json!("unpaid");
    }

    /// The session expires unpaid: `expired`, no URL any more.
    pub fn expire(&self, session_id: &str) {
        let mut ledger = self.shared.ledger();
        let session = ledger.session_mut(session_id);
        session["status"] = json!("expired");
        session["url"] = Value::Null;
    }

    /// Edits a stored session's JSON by hand, for cases the controls above do not cover
    /// (a different `amount_total`, a missing field, …). Panics on an unknown session.
    pub fn edit_session(&self, session_id: &str, edit: impl FnOnce(&mut Value)) {
        let mut ledger = self.shared.ledger();
        edit(ledger.session_mut(session_id));
    }

    /// A refund made outside the app (in the Stripe Dashboard): `None` refunds what is left.
    /// Returns the refund JSON. Panics when Stripe would refuse it.
    pub fn dashboard_refund(&self, payment_intent: &str, amount: Option<i64>) -> Value {
        let mut raw = format!("payment_intent={payment_intent}");
        if let Some(amount) = amount {
            raw.push_str(&format!("&amount={amount}"));
        }
        match self.shared.ledger().refund(&Form::parse(raw.as_bytes())) {
            Ok(refund) => refund,
            Err(answer) => panic!("the Stripe double refused the refund: {}", answer.body),
        }
    }

    /// The JSON of a full Stripe Event of type `kind` about `object`, with a new `evt_…` id.
    /// Build once and send the same string twice to test replays.
    pub fn event(&self, kind: &str, object: Value) -> String {
        json!({
            "id": new_id("evt"),
            "object": "event",
            "account": null,
            "api_version": API_VERSION,
            "created": now(),
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": kind,
        })
        .to_string()
    }

    fn session_event(&self, kind: &str, session_id: &str) -> String {
        let session = self
            .session(session_id)
            .unwrap_or_else(|| panic!("the Stripe double has no session {session_id}"));
        self.event(kind, session)
    }

    /// `checkout.session.completed` about the session as it is now.
    pub fn event_checkout_session_completed(&self, session_id: &str) -> String {
        self.session_event("checkout.session.completed", session_id)
    }

    /// `checkout.session.async_payment_succeeded` about the session as it is now.
    pub fn event_checkout_session_async_payment_succeeded(&self, session_id: &str) -> String {
        self.session_event("checkout.session.async_payment_succeeded", session_id)
    }

    /// `checkout.session.async_payment_failed` about the session as it is now.
    pub fn event_checkout_session_async_payment_failed(&self, session_id: &str) -> String {
        self.session_event("checkout.session.async_payment_failed", session_id)
    }

    /// `charge.refunded` about the Charge of `payment_intent`, with its refunds so far.
    pub fn event_charge_refunded(&self, payment_intent: &str) -> String {
        let charge = self
            .charge(payment_intent)
            .unwrap_or_else(|| panic!("the Stripe double has no charge for {payment_intent}"));
        self.event("charge.refunded", charge)
    }

    /// The percent of the subtotal the double adds as tax when a session has automatic tax
    /// (10 unless set).
    pub fn set_tax_percent(&self, percent: i64) {
        self.shared.ledger().tax_percent = percent;
    }

    /// A subscription's JSON as the API would answer it now.
    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.shared.ledger().subscriptions.get(id).cloned()
    }

    /// An invoice's JSON as the API would answer it now.
    pub fn invoice(&self, id: &str) -> Option<Value> {
        self.shared.ledger().invoices.get(id).cloned()
    }

    /// The Billing Portal sessions created through the API, in order, with their parameters.
    pub fn portal_sessions(&self) -> Vec<Created> {
        self.shared.ledger().portal_sessions.clone()
    }

    /// The next period's invoice of a subscription is paid. Returns the invoice id.
    pub fn pay_next_invoice(&self, sub_id: &str) -> String {
        let mut ledger = self.shared.ledger();
        let id = ledger.new_invoice(sub_id, None, "subscription_cycle");
        if let Some(sub) = ledger.subscriptions.get_mut(sub_id) {
            sub["status"] = json!("active");
        }
        id
    }

    /// The next period's invoice of a subscription fails (Stripe will retry): the invoice stays
    /// open and the subscription is `past_due`. Returns the invoice id.
    pub fn fail_next_invoice(&self, sub_id: &str) -> String {
        let mut ledger = self.shared.ledger();
        let id = ledger.new_invoice(sub_id, None, "failed");
        if let Some(sub) = ledger.subscriptions.get_mut(sub_id) {
            sub["status"] = json!("past_due");
        }
        id
    }

    /// Stripe gives up retrying: the subscription becomes `unpaid` (its open invoice stays open).
    pub fn give_up(&self, sub_id: &str) {
        let mut ledger = self.shared.ledger();
        if let Some(sub) = ledger.subscriptions.get_mut(sub_id) {
            sub["status"] = json!("unpaid");
        }
    }

    /// An open invoice is paid at last (a new card in the portal): `paid`, with a new payment;
    /// its subscription is `active` again.
    pub fn pay_invoice(&self, invoice_id: &str) {
        let mut ledger = self.shared.ledger();
        let pi = new_id("pi");
        let invoice = ledger
            .invoices
            .get_mut(invoice_id)
            .expect("the Stripe double has this invoice");
        let total = invoice["total"].as_i64().unwrap_or(0);
        let currency = invoice["currency"].as_str().unwrap_or("usd").to_owned();
        invoice["status"] = json!("paid");
        invoice["amount_paid"] = json!(total);
        invoice["amount_remaining"] = json!(0);
        invoice["status_transitions"]["paid_at"] = json!(now());
        invoice["payments"]["data"] = json!([{
            "id": new_id("inpay"), "object": "invoice_payment", "amount_paid": total, "amount_requested": total,
            "created": now(), "currency": currency, "invoice": invoice_id, "is_default": true, "livemode": false,
            "payment": { "type": "payment_intent", "payment_intent": pi, "charge": null },
            "status": "paid", "status_transitions": { "canceled_at": null, "paid_at": now() },
        }]);
        let sub = invoice["subscription"].as_str().map(str::to_owned);
        ledger.payments.insert(
            pi,
            Payment {
                charge_id: Some(new_id("ch")),
                amount: total,
                currency,
                email: None,
                created: now(),
                refunds: Vec::new(),
            },
        );
        if let Some(sub) = sub.and_then(|s| ledger.subscriptions.get_mut(&s)) {
            sub["status"] = json!("active");
        }
    }

    /// The PaymentIntent an invoice was paid with.
    pub fn invoice_payment_intent(&self, invoice_id: &str) -> Option<String> {
        let invoice = self.invoice(invoice_id)?;
        invoice["payments"]["data"][0]["payment"]["payment_intent"]
            .as_str()
            .map(str::to_owned)
    }

    /// `invoice.paid` about the invoice as it is now.
    pub fn event_invoice_paid(&self, invoice_id: &str) -> String {
        let invoice = self.invoice(invoice_id).expect("the Stripe double has this invoice");
        self.event("invoice.paid", invoice)
    }

    /// `invoice.payment_failed` about the invoice as it is now.
    pub fn event_invoice_payment_failed(&self, invoice_id: &str) -> String {
        let invoice = self.invoice(invoice_id).expect("the Stripe double has this invoice");
        self.event("invoice.payment_failed", invoice)
    }

    /// `invoice.finalized` about the invoice as it is now.
    pub fn event_invoice_finalized(&self, invoice_id: &str) -> String {
        let invoice = self.invoice(invoice_id).expect("the Stripe double has this invoice");
        self.event("invoice.finalized", invoice)
    }

    /// `customer.subscription.updated` about the subscription as it is now.
    pub fn event_subscription_updated(&self, sub_id: &str) -> String {
        let sub = self
            .subscription(sub_id)
            .expect("the Stripe double has this subscription");
        self.event("customer.subscription.updated", sub)
    }

    /// `customer.subscription.deleted` about the subscription as it is now.
    pub fn event_subscription_deleted(&self, sub_id: &str) -> String {
        let sub = self
            .subscription(sub_id)
            .expect("the Stripe double has this subscription");
        self.event("customer.subscription.deleted", sub)
    }

    /// An event of a type async-stripe does not know (it decodes as `EventObject::Unknown`),
    /// like the ones Stripe adds over time: the app should acknowledge and ignore it.
    pub fn event_unknown(&self) -> String {
        self.event(
            "learnwell_test.unknown_event",
            json!({ "id": new_id("obj"), "object": "learnwell_test_object" }),
        )
    }
}

/// Serves the API on `listener` until the task is aborted.
fn serve(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    let app = Router::new().fallback(handle).with_state(shared);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// Every request: answer it, then record it with the status it got.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let mut params = Form::parse(uri.query().unwrap_or_default().as_bytes());
    params.extend(Form::parse(&body));
    let mut ledger = shared.ledger();
    let answer = ledger.answer(&shared.base, &method, uri.path(), &headers, &params);
    ledger.requests.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        params,
        status: answer.status,
    });
    answer
}

//! Small value types parsed at the edge, so an invalid value cannot travel inward.

use std::fmt;

/// A URL slug: 1–64 characters of lowercase ASCII letters, digits and single hyphens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, String> {
        let ok_chars = text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if text.is_empty() || text.len() > 64 {
            Err(format!("'{text}' must be 1 to 64 characters"))
        } else if !ok_chars || text.starts_with('-') || text.ends_with('-') || text.contains("--") {
            Err(format!(
                "'{text}' may hold only lowercase letters, digits and single hyphens"
            ))
        } else {
            Ok(Slug(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Typed ids for the rows whose ids travel together (a student, a program, a module, a lesson):
/// a function that takes a student and a lesson cannot be handed them the other way round. Read
/// and written as the plain integer (`sqlx(transparent)`, `serde(transparent)`).
macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);
    )*};
}

id_type!(
    /// `users.id`
    UserId,
    /// `courses.id`
    CourseId,
    /// `modules.id`
    ModuleId,
    /// `lessons.id`
    LessonId,
);

/// A closed set of values kept as text in the database: decoded once, at the row edge
/// (`#[sqlx(try_from = "String")]` on the field), compared as Rust values everywhere else, and
/// serialised (for templates) and bound (for SQL) as their text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                $name::parse(&text).ok_or_else(|| format!("{} '{}' is not one we know", stringify!($name), text))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

text_enum! {
    /// Where a program is in its life.
    CourseStatus {
        /// Invisible to visitors.
        Draft = "draft",
        /// "Coming soon": visitors can pre-enroll.
        Preenrollment = "preenrollment",
        /// Students can enroll and pay.
        Open = "open",
        /// Enrolled students keep access; nobody new can enroll.
        Closed = "closed",
    }
}

/// The status rules: which changes the studio makes, and what a change sets off.
impl CourseStatus {
    /// The changes the Programs page makes directly (`launch::set_status`): back to
    /// pre-enrollment, close, reopen a closed program. Opening a pre-enrollment program is a launch
    /// (it emails people), and draft is set in the program editor.
    pub fn can_become(self, to: CourseStatus) -> bool {
        use CourseStatus::*;
        matches!(
            (self, to),
            (Open | Closed, Preenrollment) | (Open | Preenrollment, Closed) | (Closed, Open)
        )
    }

    /// Opening a program people pre-enrolled in is done by Launch (which emails them), never by a
    /// plain edit.
    pub fn opens_by_launch_only(self, to: CourseStatus) -> bool {
        self == CourseStatus::Preenrollment && to == CourseStatus::Open
    }

    /// Going back to draft hides the program from everyone, enrolled students included: refused
    /// while it has any.
    pub fn hides_from_students(self, to: CourseStatus) -> bool {
        to == CourseStatus::Draft && self != CourseStatus::Draft
    }

    /// Leaving pre-enrollment by an edit: a launch scheduled for it must not fire any more.
    pub fn cancels_launch(self, to: CourseStatus) -> bool {
        self == CourseStatus::Preenrollment && to != self
    }
}

text_enum! {
    /// What an account may do: study, or also run the studio.
    Role {
        Student = "student",
        Instructor = "instructor",
    }
}

text_enum! {
    /// Where an order is: waiting to be paid, paid (access granted), or ended.
    OrderStatus {
        Pending = "pending",
        Paid = "paid",
        Failed = "failed",
        Refunded = "refunded",
        Cancelled = "cancelled",
        Expired = "expired",
    }
}

text_enum! {
    /// A student's seat in a program.
    SeatStatus {
        Active = "active",
        /// Ended by a refund (progress is kept).
        Revoked = "revoked",
        /// A payment plan's instalment failed for good: no access until it is paid (progress kept).
        Paused = "paused",
    }
}

text_enum! {
    /// Where a payment plan is.
    PlanState {
        /// Collecting instalments.
        Active = "active",
        /// Stripe gave up on an instalment: access paused until it is paid.
        Paused = "paused",
        /// Every instalment paid.
        Complete = "complete",
        /// Refunded, or ended before it was paid in full.
        Cancelled = "cancelled",
    }
}

text_enum! {
    /// Whether students see a module.
    ModuleStatus {
        Draft = "draft",
        Published = "published",
        /// Published by the job at its time.
        Scheduled = "scheduled",
    }
}

text_enum! {
    /// A program's launch, as the scheduler sees it.
    LaunchStatus {
        Scheduled = "scheduled",
        Done = "done",
        Cancelled = "cancelled",
        Skipped = "skipped",
    }
}

text_enum! {
    /// An email in the outbox.
    MailStatus {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
    }
}

/// An email address as we store it: trimmed, lowercased, plain ASCII (no look-alike letters),
/// `local@domain.tld`, at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email, &'static str> {
        let email = text.trim().to_lowercase();
        if email.is_empty() {
            return Err("Please enter your email address.");
        }
        if email.len() > 254 {
            return Err("That email address is too long.");
        }
        if !email.is_ascii() {
            return Err("Please use an address with plain letters (a–z), digits and . _ % + - only.");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("That does not look like an email address (it needs an @).");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "._%+-'".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if !local_ok || !domain_ok {
            return Err("That does not look like an email address.");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's name as shown on pages and certificates: 1–100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(text: &str) -> Result<PersonName, &'static str> {
        let name = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err("Please enter your name.");
        }
        if name.chars().count() > 100 {
            return Err("Please keep your name under 100 characters.");
        }
        if name.chars().any(char::is_control) {
            return Err("Your name contains characters we cannot use.");
        }
        Ok(PersonName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10 to 128 characters, anything but NUL, not one of the most common ones.
/// Never logged, never echoed back into a form.
pub struct NewPassword(String);

impl NewPassword {
    /// ASVS L2 (2.1.1): at least 12 characters.
    pub const MIN: usize = 12;
    pub const MAX: usize = 128;

    /// A new password for the person named in `about` (their name and email): at least 12
    /// characters, not only spaces, and hard to guess (zxcvbn score 3 or more, with the person's own
    /// name and address counted as easy guesses). The message says why a password was refused.
    pub fn parse(text: &str, about: &[&str]) -> Result<NewPassword, String> {
        let count = text.chars().count();
        if count < Self::MIN {
            return Err(format!(
                "Please choose a password of at least {} characters (a few unrelated words work well).",
                Self::MIN
            ));
        }
        if count > Self::MAX {
            return Err(format!("Please choose a password of at most {} characters.", Self::MAX));
        }
        if text.contains('\0') {
            return Err("Your password contains a character we cannot accept.".to_owned());
        }
        if text.trim().is_empty() {
            return Err("A password of only spaces is too easy to guess.".to_owned());
        }
        // The person's name, address, and the parts of each, count as known to an attacker.
        let mut known: Vec<&str> = Vec::new();
        for item in about {
            known.push(item);
            known.extend(item.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 3));
        }
        let lower = text.trim().to_lowercase();
        if about
            .iter()
            .any(|item| !item.is_empty() && lower == item.to_lowercase())
        {
            return Err("Please don't use your name or email address as your password.".to_owned());
        }
        // Letters and digits only, then without the person's own name and address: what is left
        // is what an attacker who knows them would still have to guess.
        let mut rest: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        let mut parts: Vec<String> = known
            .iter()
            .map(|k| k.to_lowercase())
            .filter(|k| k.len() >= 3)
            .collect();
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let before = rest.len();
        for part in &parts {
            let part: String = part.chars().filter(|c| c.is_alphanumeric()).collect();
            if part.len() >= 3 {
                rest = rest.replace(&part, "");
            }
        }
        if rest.len() < before && rest.chars().count() < 6 {
            return Err(
                "Please don't build your password from your name or email address: it is the first thing a guesser tries."
                    .to_owned(),
            );
        }
        let squeezed: Vec<char> = lower.chars().filter(|c| !c.is_whitespace()).collect();
        let repeats = (1..=squeezed.len() / 2).any(|unit| {
            squeezed.len().is_multiple_of(unit) && squeezed.chunks(unit).all(|chunk| chunk == &squeezed[..unit])
        });
        if repeats {
            return Err("A password that repeats the same few characters is too easy to guess.".to_owned());
        }
        let estimate = zxcvbn::zxcvbn(text, &known);
        if u8::from(estimate.score()) < 3 {
            let mut why = String::from("That password would be too easy to guess.");
            if let Some(feedback) = estimate.feedback() {
                if let Some(warning) = feedback.warning() {
                    why.push(' ');
                    why.push_str(&warning.to_string());
                    if !why.ends_with('.') {
                        why.push('.');
                    }
                }
                for tip in feedback.suggestions().iter().take(2) {
                    why.push(' ');
                    why.push_str(&tip.to_string());
                    if !why.ends_with('.') {
                        why.push('.');
                    }
                }
            }
            if !why.contains("words") {
                why.push_str(" Three or four unrelated words make a strong password that is easy to remember.");
            }
            return Err(why);
        }
        Ok(NewPassword(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("  Maya@Example.COM ").unwrap().as_str(),
            "maya@example.com"
        );
        assert!(Email::parse("a.b+tag@mail.example.org").is_ok());
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a@b..com",
            ".a@b.com",
            "a@-b.com",
            "a b@c.com",
            "a@b.c0m",
            "pаypal@example.com", // Cyrillic а
            "a@exаmple.com",
            "a\0b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(
            PersonName::parse("  Maya   Lindqvist ").unwrap().as_str(),
            "Maya Lindqvist"
        );
        assert!(PersonName::parse("Zoë Ñúñez").is_ok());
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn passwords() {
        let maya: &[&str] = &["Maya Lindqvist", "maya.lindqvist@example.com"];
        assert!(NewPassword::parse("correct horse battery staple", maya).is_ok());
        assert!(NewPassword::parse("ünïcødé-pässwörd-🔑-tíme", maya).is_ok());
        assert!(NewPassword::parse(&"x".repeat(129), maya).is_err());
        assert!(NewPassword::parse("abc\0defghijk-plenty-long", maya).is_err());
        assert_eq!(
            format!(
                "{:?}",
                NewPassword::parse("correct horse battery staple", maya).unwrap()
            ),
            "NewPassword(..)"
        );
        // The review's examples, each refused with a reason.
        for (bad, why) in [
            ("short-pw1", "at least 12"),
            ("          ", "at least 12"),
            ("            ", "only spaces"),
            ("maya.lindqvist@example.com", "email"),
            ("Lock Lock Lock", "repeats"),
            ("Password1234", "too easy"),
            ("aaaaaaaaaaaa", "repeats"),
            ("111111111111", "repeats"),
            ("MayaLindqvist1", "name or email"),
            ("lindqvist2024!", "name or email"),
            ("qwertyuiop12", "too easy"),
        ] {
            let err = NewPassword::parse(bad, maya).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("gut-foundations").is_ok());
        assert!(Slug::parse("a1").is_ok());
        for bad in ["", "Gut", "a--b", "-a", "a-", "a b", "a/b", "ä", &"a".repeat(65)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["draft", "preenrollment", "open", "closed"] {
            assert_eq!(CourseStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(CourseStatus::parse("OPEN"), None);
    }
}

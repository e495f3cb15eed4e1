//! A page rendered once with stand-ins where a reader's own values go, then filled in per request.
//!
//! Most of a signed-in page is the same for everyone who reads it: a lesson's text, the header, the
//! footer. Rendering it through the template engine on every request was most of the busiest
//! page's work. A [`Shell`] is the template's own output for a *shape* of reader (what the template
//! branches on: a student or an instructor, a confirmed address, a lesson done), with a marker in
//! place of every value it prints (a name, an address, a count, a note). Filling it in is copying
//! the text between the markers and the reader's values, escaped as the template escapes them.
//!
//! The markers carry a random per-process tag, so no text a program or a student writes can pass
//! for one. A template that printed a stand-in through a filter (`upper`, `urlencode`) would make
//! a shell that fills wrongly: debug builds (every test) render each filled page the slow way too
//! and compare the bytes (see the callers).

use std::sync::OnceLock;

use minijinja::HtmlEscape;
use minijinja::value::Value;

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// This process's tag: `lw` and 16 hex digits, drawn once.
fn tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("lw{:016x}", rand::random::<u64>()))
}

/// The stand-in for slot `n`, as a template value. It prints as itself (HTML escaping leaves
/// these characters alone) and is truthy, like the non-empty value it stands in for.
pub fn slot(n: usize) -> Value {
    Value::from(marker(n))
}

/// [`slot`], as markup the template prints unescaped (`| safe`, or a safe string).
pub fn safe_slot(n: usize) -> Value {
    Value::from_safe_string(marker(n))
}

/// The stand-in for slot `n`, as text (a value the caller puts in a context itself).
pub fn marker(n: usize) -> String {
    format!("{OPEN}{}{n}{CLOSE}", tag())
}

/// A value as the template prints it with auto-escaping on (`{{ x }}`).
pub fn escaped(value: &str) -> String {
    HtmlEscape(value).to_string()
}

/// A page's own values, in slot order, as one function builds its context: the template gets a
/// stand-in for each while the shell is built ([`Values::stand_ins`]), the value itself when the
/// page is rendered whole ([`Values::themselves`]), nothing when only the fill is wanted
/// ([`Values::fill_only`]); the fill is kept, escaped, in every case. Building the context and the
/// fill in the same walk keeps the slots and the fill in step.
pub struct Values {
    give: Give,
    next: usize,
    fill: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Give {
    StandIns,
    Themselves,
    Nothing,
}

impl Values {
    /// Stand-ins from slot `first` on (the slots before are the caller's, e.g. the user's).
    pub fn stand_ins(first: usize) -> Values {
        Values::new(Give::StandIns, first)
    }

    pub fn themselves(first: usize) -> Values {
        Values::new(Give::Themselves, first)
    }

    pub fn fill_only(first: usize) -> Values {
        Values::new(Give::Nothing, first)
    }

    fn new(give: Give, first: usize) -> Values {
        Values {
            give,
            next: first,
            fill: Vec::new(),
        }
    }

    fn give(&mut self, value: Value, fill: String) -> Value {
        let n = self.next;
        self.next += 1;
        self.fill.push(fill);
        match self.give {
            Give::StandIns => slot(n),
            Give::Themselves => value,
            Give::Nothing => Value::UNDEFINED,
        }
    }

    /// Text the template prints escaped (`{{ x }}`). A stand-in is never empty: for a value the
    /// template branches on, the page's key must name whether it is there (and an empty one is
    /// given as itself, not through here).
    pub fn text(&mut self, value: &str) -> Value {
        let fill = if self.give == Give::Themselves {
            String::new()
        } else {
            escaped(value)
        };
        self.give(Value::from(value), fill)
    }

    /// A number the template prints (`{{ n }}`); not one it compares or computes with.
    pub fn number<N: std::fmt::Display + Into<Value>>(&mut self, value: N) -> Value {
        let fill = if self.give == Give::Themselves {
            String::new()
        } else {
            value.to_string()
        };
        self.give(value.into(), fill)
    }

    /// The slot after the last one given: the count of slots.
    pub fn end(&self) -> usize {
        self.next
    }

    /// What goes in the slots given, in order.
    pub fn fill(&self) -> &[String] {
        &self.fill
    }
}

#[derive(Debug)]
pub struct Shell {
    /// The page with the markers cut out.
    text: String,
    /// Where each cut was, in `text`, and which slot goes there; in order.
    cuts: Vec<(usize, usize)>,
    slots: usize,
}

/// A rendered page whose markers do not read as this process's (a template printed a stand-in
/// through a filter, or cut one in half).
#[derive(Debug, PartialEq)]
pub struct BadShell;

impl Shell {
    /// Cuts the markers of slots `0..slots` out of `rendered`. Refuses a page with any other
    /// trace of a marker.
    pub fn cut(rendered: &str, slots: usize) -> Result<Shell, BadShell> {
        let mut text = String::with_capacity(rendered.len());
        let mut cuts = Vec::new();
        let mut rest = rendered;
        while let Some(at) = rest.find(OPEN) {
            text.push_str(&rest[..at]);
            let after = &rest[at + OPEN.len_utf8()..];
            let body = after.strip_prefix(tag()).ok_or(BadShell)?;
            let end = body.find(CLOSE).ok_or(BadShell)?;
            let n: usize = body[..end].parse().map_err(|_| BadShell)?;
            if n >= slots {
                return Err(BadShell);
            }
            cuts.push((text.len(), n));
            rest = &body[end + CLOSE.len_utf8()..];
        }
        if rest.contains(CLOSE) {
            return Err(BadShell);
        }
        text.push_str(rest);
        // A stand-in printed through a filter that kept its tag (`urlencode`, `trim`): refused.
        if text.contains(tag()) {
            return Err(BadShell);
        }
        Ok(Shell { text, cuts, slots })
    }

    /// The page with `values[n]` in place of slot `n` (already escaped as the page needs them).
    pub fn fill(&self, values: &[&str]) -> String {
        debug_assert_eq!(values.len(), self.slots, "a value for every slot");
        let extra: usize = self.cuts.iter().map(|&(_, n)| values[n].len()).sum();
        let mut out = String::with_capacity(self.text.len() + extra);
        let mut from = 0;
        for &(at, n) in &self.cuts {
            out.push_str(&self.text[from..at]);
            out.push_str(values[n]);
            from = at;
        }
        out.push_str(&self.text[from..]);
        out
    }

    /// The bytes this shell holds (for the cache's bound).
    pub fn size(&self) -> usize {
        self.text.len() + self.cuts.len() * std::mem::size_of::<(usize, usize)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, ctx: Value) -> String {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template("t.html", source).unwrap();
        env.get_template("t.html").unwrap().render(ctx).unwrap()
    }

    #[test]
    fn fills_what_the_template_would_print() {
        let source = "<p>{{ a }} and {{ b }}</p>{% if b %}<i>{{ a }}</i>{% endif %}{{ nav }}";
        let shell = Shell::cut(
            &render(
                source,
                minijinja::context! { a => slot(0), b => slot(1), nav => safe_slot(2) },
            ),
            3,
        )
        .unwrap();
        let (a, b, nav) = ("Ann & <Bo>", "it's \"quoted\" /", "<nav>x</nav>");
        let filled = shell.fill(&[&escaped(a), &escaped(b), nav]);
        let direct = render(
            source,
            minijinja::context! { a, b, nav => Value::from_safe_string(nav.into()) },
        );
        assert_eq!(filled, direct);
        assert!(filled.contains("Ann &amp; &lt;Bo&gt;"), "{filled}");
    }

    #[test]
    fn a_marker_bent_by_a_filter_or_another_tag_is_refused() {
        // `upper` turns the hex tag into capitals: not this process's marker.
        let bent = render("{{ a | upper }}", minijinja::context! { a => slot(0) });
        assert_eq!(Shell::cut(&bent, 1).unwrap_err(), BadShell);
        // Another process's marker (another tag).
        let foreign = format!("x{OPEN}lw0123456789abcdef0{CLOSE}y");
        assert_eq!(Shell::cut(&foreign, 1).unwrap_err(), BadShell);
        // Half a marker (`truncate`), a slot the caller did not ask for, a stray closing mark.
        let half = marker(0)[..5].to_string();
        assert_eq!(Shell::cut(&half, 1).unwrap_err(), BadShell);
        assert_eq!(Shell::cut(&marker(3), 1).unwrap_err(), BadShell);
        assert_eq!(Shell::cut(&format!("a{CLOSE}b"), 1).unwrap_err(), BadShell);
        // A marker whose marks a filter encoded, leaving the tag.
        let encoded = render("{{ a | urlencode }}", minijinja::context! { a => slot(0) });
        assert_eq!(Shell::cut(&encoded, 1).unwrap_err(), BadShell);
        // A page with no marker is a shell with nothing to fill.
        assert_eq!(Shell::cut("plain", 1).unwrap().fill(&["unused"]), "plain");
    }
}

//! A small, valid content tree in a temp folder, to import, break and change in tests.

use std::path::{Path, PathBuf};

pub struct Fixture {
    dir: tempfile::TempDir,
}

pub const SITE: &str = r#"
name = "Fixture Practice"
tagline = "Testing, calmly."
contact_email = "hello@fixture.example"
address = "1 Test Street"
currency = "USD"
time_zone = "America/Chicago"
bundle_price_cents = 25000
[instructor]
name = "Dr. Fixture"
bio = "Writes tests."
[early_bird]
percent = 20
days = 14
"#;

pub fn lesson(title: &str, preview: bool, body: &str) -> String {
    format!(
        "+++\ntitle = {title:?}\nduration_minutes = 7\nfree_preview = {preview}\n+++\n\n{body}\n\n## Try this week\nDrink a glass of water.\n"
    )
}

pub const GLOSSARY: &str = "+++
title = \"Glossary\"
+++

Words used in alpha.

## Alpha wave {#alpha-wave}
A calm rhythm. See [the basics](01-start/02-basics.md).

## Fibre {#fibre}
The parts of plants we do not digest. Count it in [the diary](worksheets/diary.md).
";

pub const DIARY: &str = "+++
title = \"Meal diary\"
summary = \"What you ate, and how your gut felt.\"
csv = \"downloads/diary.csv\"
+++

Fill in a row after each meal. Words you do not know are in the [glossary](../glossary.md#fibre).

| Date | What I ate and drank | Bloating (0–10) |
|---|---|---|
|  |  |  |
|  |  |  |

- [ ] I drank a glass of water today
";

/// A knowledge check: a true/false question and a multiple-choice one.
pub const QUIZ: &str = r#"[[question]]
id = "water"
kind = "true_false"
text = "Water helps."
[[question.option]]
text = "True"
correct = true
explanation = "Right: water softens stools."
[[question.option]]
text = "False"
correct = false
explanation = "Not quite: water does help."

[[question]]
id = "plants"
kind = "multiple"
text = "Which are plants?"
[[question.option]]
text = "Oats"
correct = true
explanation = "Oats are a grain, a plant."
[[question.option]]
text = "Lentils"
correct = true
explanation = "Lentils are legumes, plants."
[[question.option]]
text = "Cheese"
correct = false
explanation = "Cheese comes from milk."
"#;

pub const RED_FLAGS: &str = "+++
title = \"Red flags\"
summary = \"When to call a doctor instead of waiting.\"
public = true
+++

See a doctor promptly if any of these is true (from [the welcome](../01-start/01-welcome.md)):

- [ ] Blood in the stool
- [ ] Weight loss you cannot explain
";

impl Fixture {
    /// Two programs: `alpha` (two modules of two lessons, the first a preview) and `beta` (one).
    pub fn new() -> Fixture {
        let f = Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        f.write("site.toml", SITE);
        f.write(
            "alpha/course.toml",
            r#"title = "Alpha Program"
promise = "Learn the alpha way."
price_cents = 15000
description = "All about **alpha**."
who_for = ["People who like alpha"]
position = 1
[[faq]]
q = "Is alpha hard?"
a = "Not at all."
"#,
        );
        f.write(
            "alpha/01-start/module.toml",
            "title = \"Starting out\"\nsummary = \"The first steps.\"\n",
        );
        f.write(
            "alpha/01-start/01-welcome.md",
            &lesson("Welcome to alpha", true, "The welcome lesson body text."),
        );
        f.write(
            "alpha/01-start/02-basics.md",
            &lesson("The basics", false, "Secret basics body text."),
        );
        f.write("alpha/02-deeper/module.toml", "title = \"Going deeper\"\n");
        f.write(
            "alpha/02-deeper/01-detail.md",
            &lesson("Detail", false, "See [the basics](../01-start/02-basics.md) again."),
        );
        f.write(
            "alpha/02-deeper/02-wrap-up.md",
            &lesson("Wrapping up", false, "The end of alpha."),
        );
        f.write(
            "beta/course.toml",
            "title = \"Beta Program\"\npromise = \"Beta things.\"\nprice_cents = 20000\nposition = 2\n",
        );
        f.write("beta/01-only/module.toml", "title = \"Only module\"\n");
        f.write("beta/01-only/01-first.md", &lesson("Beta first", true, "Beta body."));
        f
    }

    /// The same, and alpha has a glossary, two worksheets (`diary`, with a CSV, for students;
    /// `red-flags`, public) that its lessons link to, a knowledge check on its first module
    /// (`quiz.toml`), and a check-in (`checkins.toml`).
    pub fn with_pages() -> Fixture {
        let f = Fixture::new();
        f.write("alpha/glossary.md", GLOSSARY);
        f.write("alpha/worksheets/diary.md", DIARY);
        f.write("alpha/worksheets/red-flags.md", RED_FLAGS);
        f.write(
            "alpha/downloads/diary.csv",
            "Date,What I ate and drank,Bloating (0–10)\n",
        );
        f.write(
            "alpha/01-start/01-welcome.md",
            &lesson(
                "Welcome to alpha",
                true,
                "The welcome lesson body text. Know the [red flags](../worksheets/red-flags.md).",
            ),
        );
        f.write(
            "alpha/01-start/02-basics.md",
            &lesson(
                "The basics",
                false,
                "Secret basics body text. Keep [the diary](../worksheets/diary.md) and learn about \
                 [fibre](../glossary.md#fibre).",
            ),
        );
        f.write("alpha/01-start/quiz.toml", QUIZ);
        f.write(
            "alpha/checkins.toml",
            "[[checkin]]\nid = \"daily\"\ntitle = \"Daily\"\nintroduced_in = \"start\"\n[[checkin.field]]\nid = \"mood\"\nkind = \"scale\"\nlabel = \"Mood\"\nlow = \"Low\"\nhigh = \"High\"\n",
        );
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.file(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write fixture file");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.file(rel)).expect("remove fixture file");
    }
}

use super::nesting::{container_depth, html_depth};
use super::*;

#[test]
fn deep_nesting_is_refused_before_rendering() {
    let quote = format!("{} x", ">".repeat(50_000));
    let err = render_plain(&quote).unwrap_err();
    assert!(err.contains("nested more than 32 levels"), "{err}");
    let spaced = format!("{} x", "> ".repeat(40));
    assert!(render_plain(&spaced).is_err());
    let divs = format!("{}x{}", "<div>".repeat(60_000), "</div>".repeat(60_000));
    assert!(render_plain(&divs).unwrap_err().contains("HTML elements"));
    let lists: String = (0..40).map(|i| format!("{}- item\n", "  ".repeat(i * 2))).collect();
    assert!(render_plain(&lists).is_err());
    let numbered = format!("{} x", "1. ".repeat(40));
    assert!(render_plain(&numbered).is_err());
}

#[test]
fn ordinary_nesting_and_html_still_render() {
    let md = "> quote\n> > inner\n\n- a\n  - b\n    - c\n\n1. one\n2. two\n\n<div><p>x<br>y</p></div>\n\n    code\n";
    let html = render_plain(md).unwrap();
    assert!(html.contains("<blockquote>") && html.contains("<li>c</li>"), "{html}");
    // Long lines of ordinary text, arrows and dates are not containers.
    assert!(render_plain(&"a -> b, 2024. ".repeat(5000)).is_ok());
    assert!(render_plain(&format!("{}x", "<br>".repeat(1000))).is_ok());
    assert!(render_plain("3 < 4 and 5 > 2, <3").is_ok());
    assert_eq!(container_depth("> > - 1. x"), 4);
    assert_eq!(container_depth("        code"), 4);
    assert_eq!(container_depth("    - c"), 3);
    assert_eq!(container_depth("2024. was a year"), 1);
    assert_eq!(html_depth("<a><b></b><c/><img src=x></a>"), 2);
}

#[test]
fn email_links_become_absolute_and_scripts_go() {
    let html = render_email(
        "[a](/courses/x) [b](courses/y) [c](https://example.org/z) <script>alert(1)</script><img src=x onerror=alert(1)>",
        "https://school.example",
    )
    .unwrap();
    assert!(html.contains(r#"href="https://school.example/courses/x""#), "{html}");
    assert!(html.contains(r#"href="https://school.example/courses/y""#), "{html}");
    assert!(html.contains(r#"href="https://example.org/z""#), "{html}");
    assert!(!html.contains("<script") && !html.contains("onerror"), "{html}");
}

#[test]
fn scripts_and_handlers_are_removed() {
    let html =
        render_plain("Hi <script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))").unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("onerror"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
}

#[test]
fn relative_links_are_resolved_or_refused() {
    let html = render("[next](02-next.md#top) and [web](https://example.org)", |d| {
        assert_eq!(d, "02-next.md#top");
        Ok("/courses/c/lessons/next#top".into())
    })
    .unwrap();
    assert!(html.contains(r#"href="/courses/c/lessons/next#top""#), "{html}");
    assert!(html.contains(r#"href="https://example.org""#), "{html}");
    assert!(render("[gone](missing.md)", |_| Err("missing".into())).is_err());
    assert!(render("![pic](pic.png)", |_| Ok(String::new())).is_err());
}

#[test]
fn lesson_links_resolve_by_file_name() {
    let slugs: HashSet<String> = ["basics".to_owned(), "gut-barrier".to_owned()].into();
    let links = ProgramLinks::lessons_only("alpha", slugs);
    let html = render_lesson_body(
        &links,
        "[a](../01-start/02-basics.md) [b](03-gut-barrier.md#why) [c](basics.md) [d](https://x.org/e.md)",
    )
    .unwrap();
    assert!(html.contains(r#"href="/courses/alpha/lessons/basics""#), "{html}");
    assert!(
        html.contains(r#"href="/courses/alpha/lessons/gut-barrier#why""#),
        "{html}"
    );
    assert!(html.contains(r#"href="https://x.org/e.md""#), "{html}");
    let err = render_lesson_body(&links, "See [gone](../02-deeper/09-nothing.md).").unwrap_err();
    assert!(
        err.contains("'../02-deeper/09-nothing.md'") && err.contains("'nothing'"),
        "{err}"
    );
    assert!(render_lesson_body(&links, "[csv](downloads/sheet.csv)").is_err());
}

#[test]
fn rewriting_links_keeps_every_other_byte() {
    let md =
        "Intro *x*  \n[one](../01-a/02-b.md \"t\") and [two][r] and [web](https://e.org/02-b.md)\n\n[r]: <02-b.md#f>\n";
    let out = rewrite_relative_links(md, |dest| Some(format!("NEW({dest})")));
    assert_eq!(
        out,
        "Intro *x*  \n[one](NEW(../01-a/02-b.md) \"t\") and [two][r] and [web](https://e.org/02-b.md)\n\n[r]: <NEW(02-b.md#f)>\n"
    );
    assert_eq!(rewrite_relative_links(md, |_| None), md);
    // The link text may repeat the destination; the destination is what changes.
    assert_eq!(
        rewrite_relative_links("[02-b.md](02-b.md)", |_| Some("x.md".into())),
        "[02-b.md](x.md)"
    );
}

#[test]
fn what_counts_as_relative() {
    for rel in ["a.md", "../b/c.md", "./x.md", "downloads/sheet.csv"] {
        assert!(is_relative_link(rel), "{rel}");
    }
    for abs in ["#frag", "/courses", "https://x.org", "mailto:a@b.c", "//cdn.x/y"] {
        assert!(!is_relative_link(abs), "{abs}");
    }
}

fn alpha_links() -> ProgramLinks {
    ProgramLinks {
        program_slug: "alpha".into(),
        lessons: ["basics".to_owned(), "elimination-plan".to_owned()].into(),
        glossary: Some(["fodmap".to_owned()].into()),
        worksheets: ["elimination-plan".to_owned()].into(),
    }
}

#[test]
fn glossary_and_worksheet_links_resolve_by_name() {
    let links = alpha_links();
    let html = render_lesson_body(
        &links,
        "[a](../glossary.md#fodmap) [b](../worksheets/elimination-plan.md) [c](../02-x/03-elimination-plan.md) [d](../glossary.md)",
    )
    .unwrap();
    assert!(html.contains(r#"href="/courses/alpha/glossary#fodmap""#), "{html}");
    // A worksheet and a lesson may share a name: the folder says which is meant.
    assert!(
        html.contains(r#"href="/courses/alpha/worksheets/elimination-plan""#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="/courses/alpha/lessons/elimination-plan""#),
        "{html}"
    );
    assert!(html.contains(r#"href="/courses/alpha/glossary""#), "{html}");
    assert_eq!(
        render_lesson_body(&links, "[x](../glossary.md#fiber)").unwrap_err(),
        "broken relative link '../glossary.md#fiber': the glossary has no term with the anchor '{#fiber}'"
    );
    assert_eq!(
        render_lesson_body(&links, "[x](../worksheets/log.md)").unwrap_err(),
        "broken relative link '../worksheets/log.md': this program has no worksheet 'log' (worksheets/log.md)"
    );
    let no_glossary = ProgramLinks::lessons_only("beta", HashSet::new());
    assert_eq!(
        render_lesson_body(&no_glossary, "[x](../glossary.md#a)").unwrap_err(),
        "broken relative link '../glossary.md#a': this program has no glossary.md"
    );
}

#[test]
fn link_targets_by_name_and_by_place() {
    assert_eq!(
        link_target("../glossary.md#x"),
        Some(LinkTarget::Glossary { fragment: Some("x") })
    );
    assert_eq!(
        link_target("glossary.md"),
        Some(LinkTarget::Glossary { fragment: None })
    );
    assert_eq!(
        link_target("../worksheets/diary.md"),
        Some(LinkTarget::Worksheet {
            name: "diary",
            fragment: None
        })
    );
    assert_eq!(
        link_target("../01-a/02-glossary.md"),
        Some(LinkTarget::Lesson {
            slug: "glossary",
            fragment: None
        })
    );
    assert_eq!(link_target("../downloads/x.csv"), None);
    assert_eq!(
        place_in_program("", "worksheets/x.md").as_deref(),
        Some("worksheets/x.md")
    );
    assert_eq!(
        place_in_program("worksheets", "../glossary.md").as_deref(),
        Some("glossary.md")
    );
    assert_eq!(
        place_in_program("worksheets", "other.md").as_deref(),
        Some("worksheets/other.md")
    );
    assert_eq!(place_in_program("", "../x.md"), None);
}

#[test]
fn a_task_box_is_labelled_by_its_items_text() {
    let html = render_plain("- [ ] Blood in the **stool**, see [this](https://example.com)\n- [x] done\n").unwrap();
    assert_eq!(
        html,
        "<ul>\n<li><label><input disabled=\"\" type=\"checkbox\">\nBlood in the <strong>stool</strong>, see \
         <a href=\"https://example.com\" rel=\"noopener noreferrer\">this</a></label></li>\n\
         <li><label><input disabled=\"\" type=\"checkbox\" checked=\"\">\ndone</label></li>\n</ul>\n"
    );
    // A nested list and a loose item's second paragraph stay outside the label.
    let nested = render_plain("- [ ] outer\n  - [ ] inner\n").unwrap();
    assert_eq!(nested.matches("<label>").count(), 2, "{nested}");
    assert!(nested.contains("outer</label>\n<ul>"), "{nested}");
    let loose = render_plain("- [ ] first\n\n  more text\n\n- [ ] second\n").unwrap();
    assert!(
        loose.contains("<p><label><input disabled=\"\" type=\"checkbox\">\nfirst</label></p>"),
        "{loose}"
    );
    assert!(loose.contains("<p>more text</p>"), "{loose}");
    // Ordinary lists get no label.
    assert!(!render_plain("- plain\n").unwrap().contains("label"));
}

#[test]
fn task_lists_print_as_disabled_boxes_and_anchors_survive() {
    let html = render_plain("## Fibre {#fibre}\n\n- [ ] one\n- [x] two\n").unwrap();
    assert!(html.contains(r#"<h2 id="fibre">Fibre</h2>"#), "{html}");
    assert_eq!(html.matches(r#"type="checkbox""#).count(), 2, "{html}");
    assert_eq!(html.matches(r#"disabled="""#).count(), 2, "{html}");
    // The same every time (the stored HTML is hashed).
    let list = "- [ ] one\n- [x] two\n<input>\n";
    for _ in 0..20 {
        assert_eq!(render_plain(list).unwrap(), render_plain(list).unwrap());
    }
    assert_eq!(html.matches("checked").count(), 1, "{html}");
    // Raw HTML cannot smuggle in another kind of input, or an id.
    let html = render_plain(
        "<input type=\"text\" name=\"x\" value=\"y\"> <h3 id=\"Main Menu\">x</h3> <p id=\"progress\">p</p>",
    )
    .unwrap();
    assert!(html.contains(r#"<input type="checkbox">"#), "{html}");
    assert!(
        !html.contains("text") && !html.contains("name=") && !html.contains("value="),
        "{html}"
    );
    assert!(!html.contains("id="), "{html}");
    assert!(render_plain("## Term {#Bad_Anchor}").is_err());
    assert_eq!(
        heading_anchors("## A {#a}\n### B {#b-2}\n## C\n"),
        ["a".to_owned(), "b-2".to_owned()].into()
    );
}

#[test]
fn worksheet_links_are_found_in_rendered_html() {
    let html = render_lesson_body(
        &alpha_links(),
        "[a](../worksheets/elimination-plan.md#day-1) [b](../worksheets/elimination-plan.md) [c](../glossary.md#fodmap)",
    )
    .unwrap();
    assert_eq!(worksheet_links(&html), ["elimination-plan"]);
    assert!(worksheet_links("<a href=\"/courses/a/lessons/b\">x</a>").is_empty());
}

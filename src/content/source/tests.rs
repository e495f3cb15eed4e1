use super::*;

#[test]
fn front_matter_splits() {
    assert_eq!(
        split_front_matter("+++\ntitle = \"a\"\n+++\nbody\n"),
        Some(("title = \"a\"\n", "body\n"))
    );
    assert_eq!(
        split_front_matter("+++\r\ntitle = 1\r\n+++\r\nx"),
        Some(("title = 1\r\n", "x"))
    );
    assert_eq!(split_front_matter("title = 1\nbody"), None);
    assert_eq!(split_front_matter("+++\ntitle = 1\nbody"), None);
}

#[test]
fn numbered_names() {
    assert_eq!(numbered("01-meet"), Some((1, "meet")));
    assert_eq!(numbered("meet-you"), None);
    assert_eq!(numbered("-x"), None);
}

#[test]
fn download_paths_stay_inside() {
    assert_eq!(safe_relative("downloads/a.csv").as_deref(), Some("downloads/a.csv"));
    assert_eq!(safe_relative("./a.csv").as_deref(), Some("a.csv"));
    assert_eq!(safe_relative("../a.csv"), None);
    assert_eq!(safe_relative("/etc/passwd"), None);
    assert_eq!(safe_relative("a/../../b"), None);
}

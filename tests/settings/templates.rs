//! Push templates and the users' choice of one.

use crate::common::settings::*;

#[tokio::test]
async fn templates_are_created_read_updated_and_deleted() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    let created = s
        .create_template("Welcome1", "{$fromNickname} says", "{$msg} ({0})")
        .await
        .unwrap();
    assert_eq!(created.name, "Welcome1");
    assert_eq!(created.title_pattern, "{$fromNickname} says");
    assert_eq!(created.create_time, created.update_time);
    assert_eq!(s.template("Welcome1").await.unwrap(), created);
    let exists = assert_code(
        s.create_template("Welcome1", "other", "").await,
        Code::AlreadyExists,
    );
    assert_eq!(
        exists.get_details_resource_info().map(|r| r.resource_name),
        Some("Welcome1".to_string())
    );
    // Names are case-sensitive.
    s.create_template("welcome1", "", "body").await.unwrap();

    let updated = s
        .update_template("Welcome1", Some("{$dynamicFrom}"), None)
        .await
        .unwrap();
    assert_eq!(updated.title_pattern, "{$dynamicFrom}");
    assert_eq!(updated.content_pattern, "{$msg} ({0})", "kept when omitted");
    assert_eq!(updated.create_time, created.create_time);
    let cleared = s.update_template("Welcome1", None, Some("")).await.unwrap();
    assert_eq!(cleared.content_pattern, "");
    // Leaving both patterns empty, or giving neither, is refused and changes nothing.
    assert_invalid(
        s.update_template("Welcome1", Some(""), None).await,
        &["title_pattern"],
    );
    assert_invalid(
        s.update_template("Welcome1", None, None).await,
        &["title_pattern"],
    );
    assert_eq!(s.template("Welcome1").await.unwrap(), cleared);
    assert_code(
        s.update_template("Nope", Some("x"), None).await,
        Code::NotFound,
    );

    s.delete_template("Welcome1").await.unwrap();
    let missing = assert_code(s.template("Welcome1").await, Code::NotFound);
    assert_eq!(
        missing.get_details_resource_info().map(|r| r.resource_type),
        Some("template".to_string())
    );
    assert_code(s.delete_template("Welcome1").await, Code::NotFound);
    assert!(s.template("welcome1").await.is_ok());
}

#[tokio::test]
async fn bad_templates_name_every_field_and_are_not_stored() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    let long = "x".repeat(1025);
    assert_invalid(
        s.create_template("bad-name", "{$nickname}", &long).await,
        &["name", "title_pattern", "content_pattern"],
    );
    assert_invalid(
        s.create_template("t1", "", "").await,
        &["title_pattern", "content_pattern"],
    );
    for pattern in ["{100}", "{01}", "{$}", "line\nbreak"] {
        assert_invalid(
            s.create_template("t1", pattern, "").await,
            &["title_pattern"],
        );
    }
    for name in ["", "名字", &"a".repeat(65)] {
        assert_invalid(s.create_template(name, "x", "").await, &["name"]);
    }
    assert_code(s.template("t1").await, Code::NotFound);
    // Braces that are not placeholders are text; the longest names and patterns are allowed.
    let max_name = "a".repeat(64);
    let max_pattern = "y".repeat(1024);
    s.create_template(&max_name, "{} {x} { 0 } {99}", &max_pattern)
        .await
        .unwrap();
    assert_invalid(
        s.update_template(&max_name, Some("{$who}"), Some(&long))
            .await,
        &["title_pattern", "content_pattern"],
    );
    assert_eq!(
        s.template(&max_name).await.unwrap().title_pattern,
        "{} {x} { 0 } {99}"
    );
    assert_invalid(s.template("bad name").await, &["name"]);
    assert_invalid(s.delete_template("").await, &["name"]);
}

#[tokio::test]
async fn user_template_choice_follows_the_template() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    assert_eq!(s.user_template("u1").await.unwrap(), "");
    assert_code(s.set_user_template("u1", "t1").await, Code::NotFound);
    assert_invalid(s.set_user_template("u1", "t-1").await, &["template_name"]);
    assert_eq!(s.user_template("u1").await.unwrap(), "");

    s.create_template("t1", "{0}", "{1}").await.unwrap();
    assert_eq!(s.set_user_template("u1", "t1").await.unwrap(), "t1");
    assert_eq!(s.user_template("u1").await.unwrap(), "t1");
    // A deleted template reads as none; re-created, it counts again.
    s.delete_template("t1").await.unwrap();
    assert_eq!(s.user_template("u1").await.unwrap(), "");
    s.create_template("t1", "again", "").await.unwrap();
    assert_eq!(s.user_template("u1").await.unwrap(), "t1");
    assert_eq!(s.set_user_template("u1", "").await.unwrap(), "");
    assert_eq!(s.user_template("u1").await.unwrap(), "");
}

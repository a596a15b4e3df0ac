//! Push labels over a real gRPC connection to a real server: every call, every limit, paging, restarts,
//! tenant isolation and bad input.

mod common;

use std::collections::HashMap;

use common::{TestServer, authed, call_empty, create_app, violated_fields};
use pushgate::proto::v1::{
    AddLabelUsersRequest, AddLabelUsersResponse, CreateLabelRequest, DeleteAppRequest,
    DeleteLabelRequest, GetLabelRequest, GetLabelUserRequest, Label, LabelUser,
    LabelUserFailureReason, ListLabelUsersRequest, ListLabelUsersResponse, ListLabelsRequest,
    ListLabelsResponse, RemoveLabelUsersRequest, RemoveLabelUsersResponse,
    app_service_client::AppServiceClient, label_service_client::LabelServiceClient,
};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

/// A label client acting for one app.
struct Labels {
    client: LabelServiceClient<Channel>,
    token: String,
}

impl Labels {
    async fn of(server: &TestServer, token: &str) -> Self {
        Self {
            client: LabelServiceClient::new(server.channel().await),
            token: token.to_owned(),
        }
    }

    async fn create(&mut self, name: &str, description: &str) -> Result<Label, Status> {
        let request = CreateLabelRequest {
            name: name.into(),
            description: description.into(),
        };
        let label = self
            .client
            .create_label(authed(request, &self.token))
            .await?
            .into_inner()
            .label;
        Ok(label.expect("label in response"))
    }

    async fn get(&mut self, name: &str) -> Result<Label, Status> {
        let request = GetLabelRequest { name: name.into() };
        let label = self
            .client
            .get_label(authed(request, &self.token))
            .await?
            .into_inner()
            .label;
        Ok(label.expect("label in response"))
    }

    async fn count(&mut self, name: &str) -> u64 {
        self.get(name).await.expect("get label").user_count
    }

    async fn list(
        &mut self,
        page_size: i32,
        page_token: &str,
    ) -> Result<ListLabelsResponse, Status> {
        let request = ListLabelsRequest {
            page_size,
            page_token: page_token.into(),
        };
        Ok(self
            .client
            .list_labels(authed(request, &self.token))
            .await?
            .into_inner())
    }

    async fn delete(&mut self, name: &str) -> Result<u64, Status> {
        let request = DeleteLabelRequest { name: name.into() };
        Ok(self
            .client
            .delete_label(authed(request, &self.token))
            .await?
            .into_inner()
            .removed_users)
    }

    async fn add(&mut self, label: &str, users: &[&str]) -> Result<AddLabelUsersResponse, Status> {
        let request = AddLabelUsersRequest {
            label: label.into(),
            users: users.iter().map(|u| u.to_string()).collect(),
        };
        Ok(self
            .client
            .add_label_users(authed(request, &self.token))
            .await?
            .into_inner())
    }

    async fn remove(
        &mut self,
        label: &str,
        users: &[&str],
    ) -> Result<RemoveLabelUsersResponse, Status> {
        let request = RemoveLabelUsersRequest {
            label: label.into(),
            users: users.iter().map(|u| u.to_string()).collect(),
        };
        Ok(self
            .client
            .remove_label_users(authed(request, &self.token))
            .await?
            .into_inner())
    }

    async fn get_user(&mut self, label: &str, user: &str) -> Result<LabelUser, Status> {
        let request = GetLabelUserRequest {
            label: label.into(),
            user: user.into(),
        };
        let member = self
            .client
            .get_label_user(authed(request, &self.token))
            .await?
            .into_inner()
            .label_user;
        Ok(member.expect("label user in response"))
    }

    async fn list_users(
        &mut self,
        label: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<ListLabelUsersResponse, Status> {
        let request = ListLabelUsersRequest {
            label: label.into(),
            page_size,
            page_token: page_token.into(),
        };
        Ok(self
            .client
            .list_label_users(authed(request, &self.token))
            .await?
            .into_inner())
    }

    /// Every label name, walking the pages.
    async fn names(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        let mut token = String::new();
        loop {
            let page = self.list(100, &token).await.expect("list labels");
            names.extend(page.labels.into_iter().map(|l| l.name));
            if page.next_page_token.is_empty() {
                return names;
            }
            token = page.next_page_token;
        }
    }

    /// Every member of a label, walking the pages.
    async fn members(&mut self, label: &str) -> Vec<String> {
        let mut users = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .list_users(label, 100, &token)
                .await
                .expect("list label users");
            users.extend(page.users.into_iter().map(|u| u.user));
            if page.next_page_token.is_empty() {
                return users;
            }
            token = page.next_page_token;
        }
    }
}

fn resource_type(status: &Status) -> String {
    status
        .get_details_resource_info()
        .map(|info| info.resource_type)
        .unwrap_or_default()
}

fn ms(t: &Option<prost_types::Timestamp>) -> i64 {
    let t = t.as_ref().expect("timestamp");
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn labels_are_created_read_listed_and_deleted() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut labels = Labels::of(&server, &app.token).await;

    let before = now_ms();
    let created = labels.create("news", "Daily news readers").await.unwrap();
    assert_eq!(created.name, "news");
    assert_eq!(created.description, "Daily news readers");
    assert_eq!(created.user_count, 0);
    let created_at = ms(&created.create_time);
    assert!(created_at >= before - 1000 && created_at <= now_ms() + 1000);

    let dup = labels.create("news", "").await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup:?}");
    // Names are case-sensitive: this is another label.
    labels.create("News", "").await.unwrap();

    labels.add("news", &["u1", "u2", "u3"]).await.unwrap();
    let got = labels.get("news").await.unwrap();
    assert_eq!(got.user_count, 3);
    assert_eq!(got.description, "Daily news readers");
    assert_eq!(ms(&got.create_time), created_at);
    assert_eq!(labels.count("News").await, 0);
    assert_eq!(labels.names().await, ["News", "news"]);

    assert_eq!(labels.delete("news").await.unwrap(), 3);
    let gone = labels.get("news").await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(resource_type(&gone), "label");
    assert_eq!(labels.names().await, ["News"]);
    // A label re-created under the same name starts empty: no member of the old one comes back.
    labels.create("news", "").await.unwrap();
    assert_eq!(labels.count("news").await, 0);
    assert!(labels.members("news").await.is_empty());
}

#[tokio::test]
async fn label_users_are_added_checked_and_removed_one_by_one() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut labels = Labels::of(&server, &app.token).await;
    labels.create("vip", "").await.unwrap();

    let before = now_ms();
    let added = labels
        .add("vip", &["u1", "bad user", "u2", "u1", "a@b.c", ""])
        .await
        .unwrap();
    assert_eq!(added.success, ["u1", "u2", "a@b.c"]);
    assert_eq!(added.added, 3);
    let invalid = LabelUserFailureReason::InvalidUser as i32;
    assert_eq!(
        added.fail,
        HashMap::from([("bad user".to_string(), invalid), (String::new(), invalid)])
    );
    assert_eq!(labels.count("vip").await, 3);

    let u1 = labels.get_user("vip", "u1").await.unwrap();
    assert_eq!(u1.user, "u1");
    let first_added = ms(&u1.add_time);
    assert!(first_added >= before - 1000 && first_added <= now_ms() + 1000);

    // Adding a member again succeeds, changes no count and keeps the first time.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let again = labels.add("vip", &["u1"]).await.unwrap();
    assert_eq!(again.success, ["u1"]);
    assert_eq!(again.added, 0, "u1 already was a member");
    assert!(again.fail.is_empty());
    assert_eq!(labels.count("vip").await, 3);
    assert_eq!(
        ms(&labels.get_user("vip", "u1").await.unwrap().add_time),
        first_added
    );

    // Removing a non-member succeeds too.
    let removed = labels
        .remove("vip", &["u1", "stranger", "no spaces please"])
        .await
        .unwrap();
    assert_eq!(removed.success, ["u1", "stranger"]);
    assert_eq!(removed.removed, 1, "only u1 was a member");
    assert_eq!(
        removed.fail,
        HashMap::from([("no spaces please".to_string(), invalid)])
    );
    assert_eq!(labels.count("vip").await, 2);
    assert_eq!(labels.members("vip").await, ["a@b.c", "u2"]);

    let not_member = labels.get_user("vip", "u1").await.unwrap_err();
    assert_eq!(not_member.code(), Code::NotFound);
    assert_eq!(resource_type(&not_member), "label_user");
    let no_label = labels.get_user("nope", "u2").await.unwrap_err();
    assert_eq!(no_label.code(), Code::NotFound);
    assert_eq!(resource_type(&no_label), "label");
}

#[tokio::test]
async fn unknown_labels_are_not_found_for_every_call() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut labels = Labels::of(&server, &app.token).await;

    let errors = [
        labels.get("ghost").await.unwrap_err(),
        labels.delete("ghost").await.unwrap_err(),
        labels.add("ghost", &["u1"]).await.unwrap_err(),
        labels.remove("ghost", &["u1"]).await.unwrap_err(),
        labels.get_user("ghost", "u1").await.unwrap_err(),
        labels.list_users("ghost", 0, "").await.unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        assert_eq!(resource_type(&err), "label", "{err:?}");
    }
    assert!(
        labels.names().await.is_empty(),
        "a refused call wrote a label"
    );
}

#[tokio::test]
async fn labels_and_label_users_are_listed_page_by_page_to_the_end() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut labels = Labels::of(&server, &app.token).await;
    for name in ["e", "a", "c", "b", "d"] {
        labels.create(name, "").await.unwrap();
    }
    let users = ["u7", "u1", "u5", "u3", "u2", "u6", "u4"];
    labels.add("c", &users).await.unwrap();

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = labels.list(2, &token).await.unwrap();
        pages += 1;
        assert!(page.labels.len() <= 2);
        for label in &page.labels {
            let expected = if label.name == "c" { 7 } else { 0 };
            assert_eq!(label.user_count, expected, "{}", label.name);
        }
        seen.extend(page.labels.into_iter().map(|l| l.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    // Page size 0 means the default (50): everything in one page.
    let all = labels.list(0, "").await.unwrap();
    assert_eq!(all.labels.len(), 5);
    assert!(all.next_page_token.is_empty());

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = labels.list_users("c", 3, &token).await.unwrap();
        pages += 1;
        assert!(page.users.len() <= 3);
        assert!(page.users.iter().all(|u| u.add_time.is_some()));
        seen.extend(page.users.into_iter().map(|u| u.user));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["u1", "u2", "u3", "u4", "u5", "u6", "u7"]);
    let empty = labels.list_users("a", 0, "").await.unwrap();
    assert!(empty.users.is_empty() && empty.next_page_token.is_empty());
}

#[tokio::test]
async fn labels_per_app_limit_is_resource_exhausted_and_writes_nothing() {
    let server = TestServer::start_with(&[("PUSHGATE_LABELS_MAX_LABELS_PER_APP", "3")]);
    let app = create_app(&server, "acme#chat").await;
    let other = create_app(&server, "acme#other").await;
    let mut labels = Labels::of(&server, &app.token).await;
    for name in ["l1", "l2", "l3"] {
        labels.create(name, "").await.unwrap();
    }

    let err = labels.create("l4", "").await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.get_details_quota_failure().is_some(), "{err:?}");
    assert_eq!(labels.names().await, ["l1", "l2", "l3"]);
    // The limit is per app.
    let mut others = Labels::of(&server, &other.token).await;
    for name in ["l1", "l2", "l3"] {
        others.create(name, "").await.unwrap();
    }
    // Deleting a label frees its place.
    labels.delete("l2").await.unwrap();
    labels.create("l4", "").await.unwrap();
    assert_eq!(labels.names().await, ["l1", "l3", "l4"]);
}

#[tokio::test]
async fn users_per_label_limit_refuses_the_whole_call() {
    let server = TestServer::start_with(&[("PUSHGATE_LABELS_MAX_USERS_PER_LABEL", "5")]);
    let app = create_app(&server, "acme#chat").await;
    let mut labels = Labels::of(&server, &app.token).await;
    labels.create("l", "").await.unwrap();
    labels.add("l", &["u1", "u2", "u3", "u4"]).await.unwrap();

    // Two new users for one free place: neither is added (u1 is a member already and does not count).
    let err = labels.add("l", &["u1", "u5", "u6"]).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.get_details_quota_failure().is_some(), "{err:?}");
    assert_eq!(labels.count("l").await, 4);
    assert_eq!(labels.members("l").await, ["u1", "u2", "u3", "u4"]);
    assert_eq!(
        labels.get_user("l", "u5").await.unwrap_err().code(),
        Code::NotFound
    );

    // One new user fits; re-adding members of a full label still succeeds.
    labels.add("l", &["u1", "u5"]).await.unwrap();
    assert_eq!(labels.count("l").await, 5);
    assert_eq!(labels.add("l", &["u2"]).await.unwrap().success, ["u2"]);
    let err = labels.add("l", &["u6"]).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    // A removal frees a place.
    labels.remove("l", &["u1"]).await.unwrap();
    labels.add("l", &["u6"]).await.unwrap();
    assert_eq!(labels.members("l").await, ["u2", "u3", "u4", "u5", "u6"]);
}

#[tokio::test]
async fn users_per_call_limit_is_invalid_argument_and_writes_nothing() {
    let server = TestServer::start_with(&[("PUSHGATE_LABELS_MAX_USERS_PER_CALL", "3")]);
    let app = create_app(&server, "acme#chat").await;
    let mut labels = Labels::of(&server, &app.token).await;
    labels.create("l", "").await.unwrap();

    let err = labels
        .add("l", &["u1", "u2", "u3", "u4"])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(violated_fields(&err), ["users"]);
    assert_eq!(labels.count("l").await, 0);

    // Duplicates count once: five entries, three users.
    let added = labels
        .add("l", &["u1", "u2", "u1", "u3", "u2"])
        .await
        .unwrap();
    assert_eq!(added.success, ["u1", "u2", "u3"]);

    let err = labels
        .remove("l", &["u1", "u2", "u3", "u4"])
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["users"]);
    assert_eq!(labels.count("l").await, 3);

    let err = labels.add("l", &[]).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["users"]);
    let err = labels.remove("l", &[]).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["users"]);
    assert_eq!(labels.count("l").await, 3);
}

#[tokio::test]
async fn labels_survive_a_restart() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let (added_at, created_at) = {
        let mut labels = Labels::of(&server, &app.token).await;
        let created = labels.create("vip", "big spenders").await.unwrap();
        labels.create("trial", "").await.unwrap();
        labels.add("vip", &["u1", "u2"]).await.unwrap();
        labels.add("trial", &["u2"]).await.unwrap();
        let u1 = labels.get_user("vip", "u1").await.unwrap();
        (ms(&u1.add_time), ms(&created.create_time))
    };

    let server = server.restart().await;
    let mut labels = Labels::of(&server, &app.token).await;
    let vip = labels.get("vip").await.unwrap();
    assert_eq!(vip.user_count, 2);
    assert_eq!(vip.description, "big spenders");
    assert_eq!(ms(&vip.create_time), created_at);
    assert_eq!(labels.names().await, ["trial", "vip"]);
    assert_eq!(labels.members("vip").await, ["u1", "u2"]);
    assert_eq!(
        ms(&labels.get_user("vip", "u1").await.unwrap().add_time),
        added_at
    );
    // Counts keep working from the restored state.
    labels.remove("vip", &["u1"]).await.unwrap();
    assert_eq!(labels.count("vip").await, 1);
    assert_eq!(labels.count("trial").await, 1);
}

#[tokio::test]
async fn labels_are_isolated_between_apps_and_between_similar_names() {
    let server = TestServer::start();
    let a = create_app(&server, "acme#chat").await;
    // A name that extends the first one, so a sloppy prefix scan would mix them up.
    let b = create_app(&server, "acme#chat2").await;
    let mut in_a = Labels::of(&server, &a.token).await;
    let mut in_b = Labels::of(&server, &b.token).await;

    in_a.create("vip", "a's").await.unwrap();
    in_b.create("vip", "b's").await.unwrap();
    in_a.add("vip", &["alice", "bob"]).await.unwrap();
    in_b.add("vip", &["carol"]).await.unwrap();
    assert_eq!(in_a.members("vip").await, ["alice", "bob"]);
    assert_eq!(in_b.members("vip").await, ["carol"]);
    assert_eq!(in_b.get("vip").await.unwrap().description, "b's");
    assert_eq!(
        in_b.get_user("vip", "alice").await.unwrap_err().code(),
        Code::NotFound
    );
    // App a's label is invisible to app b, even by name.
    in_a.create("only-a", "").await.unwrap();
    assert_eq!(in_b.get("only-a").await.unwrap_err().code(), Code::NotFound);
    assert_eq!(in_b.names().await, ["vip"]);

    // Labels whose names share a prefix keep their own users.
    in_a.create("v", "").await.unwrap();
    in_a.add("v", &["dave"]).await.unwrap();
    assert_eq!(in_a.members("v").await, ["dave"]);
    assert_eq!(in_a.members("vip").await, ["alice", "bob"]);
    assert_eq!(in_a.delete("v").await.unwrap(), 1);
    assert_eq!(in_a.count("vip").await, 2);

    assert_eq!(in_b.delete("vip").await.unwrap(), 1);
    assert_eq!(in_a.members("vip").await, ["alice", "bob"]);

    // Deleting an app removes its labels: an app re-created under the name starts without any.
    let mut apps = AppServiceClient::new(server.channel().await);
    apps.delete_app(authed(
        DeleteAppRequest {
            name: "acme#chat".into(),
        },
        &server.admin_token,
    ))
    .await
    .unwrap();
    let again = create_app(&server, "acme#chat").await;
    let mut in_again = Labels::of(&server, &again.token).await;
    assert!(in_again.names().await.is_empty());
    in_again.create("vip", "").await.unwrap();
    assert!(in_again.members("vip").await.is_empty());
}

#[tokio::test]
async fn bad_label_input_is_refused_with_field_violations_and_writes_nothing() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut labels = Labels::of(&server, &app.token).await;

    let long_name = "n".repeat(65);
    let long_description = "d".repeat(256);
    for (name, description, fields) in [
        ("", "", vec!["name"]),
        ("has space", "", vec!["name"]),
        ("slash/ed", "", vec!["name"]),
        ("acme#x", "", vec!["name"]),
        ("ünï", "", vec!["name"]),
        (long_name.as_str(), "", vec!["name"]),
        ("ok", long_description.as_str(), vec!["description"]),
        ("", long_description.as_str(), vec!["name", "description"]),
    ] {
        let err = labels.create(name, description).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name:?}");
        assert_eq!(violated_fields(&err), fields, "{name:?}");
    }
    assert!(
        labels.names().await.is_empty(),
        "a refused create wrote a label"
    );
    // The longest name and description are fine.
    labels
        .create(&"n".repeat(64), &"d".repeat(255))
        .await
        .unwrap();
    labels.create("l", "").await.unwrap();

    assert_eq!(
        violated_fields(&labels.get("bad name").await.unwrap_err()),
        ["name"]
    );
    assert_eq!(
        violated_fields(&labels.delete("").await.unwrap_err()),
        ["name"]
    );
    let err = labels.add("bad name", &[]).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["label", "users"]);
    let err = labels.remove("", &["u1"]).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["label"]);
    // The default per-call maximum is 100 distinct users.
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let err = labels.add("l", &many).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["users"]);
    labels.add("l", &many[..100]).await.unwrap();
    let err = labels.remove("l", &many).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["users"]);
    assert_eq!(
        labels.count("l").await,
        100,
        "a refused call changed members"
    );

    let err = labels.get_user("", "no spaces please").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["label", "user"]);
    let err = labels.list_users("bad name", 0, "").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["label"]);
    let err = labels.list_users("l", 101, "").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["page_size"]);
    let err = labels.list_users("l", 0, "%%").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["page_token"]);
    let err = labels.list(-1, "").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["page_size"]);

    assert_eq!(labels.names().await, ["l".to_string(), "n".repeat(64)]);
    assert_eq!(labels.count("l").await, 100);
}

#[tokio::test]
async fn label_user_counts_stay_exact_under_concurrent_calls() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut labels = Labels::of(&server, &app.token).await;
    labels.create("l", "").await.unwrap();

    let mut tasks = Vec::new();
    for t in 0..6 {
        let mut client = Labels::of(&server, &app.token).await;
        tasks.push(tokio::spawn(async move {
            for round in 0..10 {
                // Overlapping users, so adds and removes of the same member race each other.
                let batch: Vec<String> = (0..8)
                    .map(|i| format!("u{:02}", (t * 3 + i + round) % 20))
                    .collect();
                let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
                if (t + round) % 3 == 0 {
                    client.remove("l", &batch).await.unwrap();
                } else {
                    client.add("l", &batch).await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let members = labels.members("l").await;
    assert!(!members.is_empty());
    assert_eq!(labels.count("l").await, members.len() as u64);
}

#[tokio::test]
async fn label_calls_need_an_app_token() {
    let server = TestServer::start();
    let channel = server.channel().await;
    let method = "/pushgate.v1.LabelService/ListLabels";
    let err = call_empty(&channel, None, method).await;
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = call_empty(&channel, Some(&server.admin_token), method).await;
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let app = create_app(&server, "acme#chat").await;
    let err = call_empty(&channel, Some(&app.token), method).await;
    assert_eq!(err.code(), Code::Ok, "{err:?}");
}

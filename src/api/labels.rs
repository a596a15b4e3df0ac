//! `LabelService`: push labels and their users, for an app token's app.

use tonic::{Request, Response, Status};

use crate::{
    api::{auth_layer::app_of, page, page_token},
    clock::timestamp,
    labels::{Labels, UserFailure, UsersOutcome},
    proto::v1::{
        AddLabelUsersRequest, AddLabelUsersResponse, CreateLabelRequest, CreateLabelResponse,
        DeleteLabelRequest, DeleteLabelResponse, GetLabelRequest, GetLabelResponse,
        GetLabelUserRequest, GetLabelUserResponse, Label, LabelUser, LabelUserFailureReason,
        ListLabelUsersRequest, ListLabelUsersResponse, ListLabelsRequest, ListLabelsResponse,
        RemoveLabelUsersRequest, RemoveLabelUsersResponse, label_service_server::LabelService,
    },
    store::{LabelRecord, LabelUserRecord},
};

/// The `LabelService` implementation.
pub struct LabelApi {
    labels: Labels,
}

impl LabelApi {
    /// Serves `labels`.
    pub fn new(labels: Labels) -> Self {
        Self { labels }
    }
}

fn label_message(r: &LabelRecord) -> Label {
    Label {
        name: r.name.clone(),
        description: r.description.clone(),
        user_count: r.user_count,
        create_time: Some(timestamp(r.create_time_ms)),
    }
}

fn label_user_message(r: &LabelUserRecord) -> LabelUser {
    LabelUser {
        user: r.user.clone(),
        add_time: Some(timestamp(r.add_time_ms)),
    }
}

/// The `success` list, `fail` map and changed count of an add or remove response.
fn outcome_fields(
    outcome: UsersOutcome,
) -> (Vec<String>, std::collections::HashMap<String, i32>, u32) {
    let fail = outcome
        .fail
        .into_iter()
        .map(|(user, why)| {
            let reason = match why {
                UserFailure::InvalidUser => LabelUserFailureReason::InvalidUser,
            };
            (user, reason as i32)
        })
        .collect();
    // At most `max_users_per_call` users per call, so the count fits.
    let changed = u32::try_from(outcome.changed).unwrap_or(u32::MAX);
    (outcome.success, fail, changed)
}

/// One page of `items` fetched with one extra, and the token that continues after the page's last item.
fn paged<T>(mut items: Vec<T>, size: usize, key: impl Fn(&T) -> &str) -> (Vec<T>, String) {
    let next = if items.len() > size {
        items.truncate(size);
        items.last().map(|i| page_token(key(i))).unwrap_or_default()
    } else {
        String::new()
    };
    (items, next)
}

#[tonic::async_trait]
impl LabelService for LabelApi {
    async fn create_label(
        &self,
        request: Request<CreateLabelRequest>,
    ) -> Result<Response<CreateLabelResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let label = self.labels.create(&app, &r.name, &r.description).await?;
        Ok(Response::new(CreateLabelResponse {
            label: Some(label_message(&label)),
        }))
    }

    async fn get_label(
        &self,
        request: Request<GetLabelRequest>,
    ) -> Result<Response<GetLabelResponse>, Status> {
        let app = app_of(&request)?;
        let label = self.labels.get(&app, &request.into_inner().name).await?;
        Ok(Response::new(GetLabelResponse {
            label: Some(label_message(&label)),
        }))
    }

    async fn list_labels(
        &self,
        request: Request<ListLabelsRequest>,
    ) -> Result<Response<ListLabelsResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let (size, after) = page(r.page_size, &r.page_token)?;
        // One extra record tells whether another page exists without a second query.
        let labels = self.labels.list(&app, after.as_deref(), size + 1).await?;
        let (labels, next_page_token) = paged(labels, size, |l| &l.name);
        Ok(Response::new(ListLabelsResponse {
            labels: labels.iter().map(label_message).collect(),
            next_page_token,
        }))
    }

    async fn delete_label(
        &self,
        request: Request<DeleteLabelRequest>,
    ) -> Result<Response<DeleteLabelResponse>, Status> {
        let app = app_of(&request)?;
        let name = request.into_inner().name;
        let removed_users = self.labels.delete(&app, &name).await?;
        tracing::info!(%app, label = %name, removed_users, "label deleted");
        Ok(Response::new(DeleteLabelResponse { removed_users }))
    }

    async fn add_label_users(
        &self,
        request: Request<AddLabelUsersRequest>,
    ) -> Result<Response<AddLabelUsersResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let outcome = self.labels.add_users(&app, &r.label, &r.users).await?;
        let (success, fail, added) = outcome_fields(outcome);
        Ok(Response::new(AddLabelUsersResponse {
            success,
            fail,
            added,
        }))
    }

    async fn remove_label_users(
        &self,
        request: Request<RemoveLabelUsersRequest>,
    ) -> Result<Response<RemoveLabelUsersResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let outcome = self.labels.remove_users(&app, &r.label, &r.users).await?;
        let (success, fail, removed) = outcome_fields(outcome);
        Ok(Response::new(RemoveLabelUsersResponse {
            success,
            fail,
            removed,
        }))
    }

    async fn get_label_user(
        &self,
        request: Request<GetLabelUserRequest>,
    ) -> Result<Response<GetLabelUserResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let member = self.labels.get_user(&app, &r.label, &r.user).await?;
        Ok(Response::new(GetLabelUserResponse {
            label_user: Some(label_user_message(&member)),
        }))
    }

    async fn list_label_users(
        &self,
        request: Request<ListLabelUsersRequest>,
    ) -> Result<Response<ListLabelUsersResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let (size, after) = page(r.page_size, &r.page_token)?;
        let users = self
            .labels
            .list_users(&app, &r.label, after.as_deref(), size + 1)
            .await?;
        let (users, next_page_token) = paged(users, size, |u| &u.user);
        Ok(Response::new(ListLabelUsersResponse {
            users: users.iter().map(label_user_message).collect(),
            next_page_token,
        }))
    }
}

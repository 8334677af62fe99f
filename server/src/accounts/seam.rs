//! Where the work happens: one interface, two implementations, chosen once
//! from the configuration. [`Service::Local`] runs the account use-cases on
//! this machine's store and mailer and the models here; [`Service::Remote`]
//! asks the team hub (`hub.url` / `CODEGENIE_HUB_URL`), which runs the same
//! use-cases. The language server and the command line call this and
//! cannot tell which it is.

use tokio_util::sync::CancellationToken;

use super::{AccountError, Accounts, LoginName, Profile, UserView};
use crate::assist::{Answer, Assistant, ExplainRequest, GenerateRequest, Outcome, Progress, Recording};
use crate::config::Settings;
use crate::models::ModelError;
use crate::remote::HubClient;
use crate::store::{HistoryItem, HistoryPage, HistoryQuery};

type Result<T> = std::result::Result<T, AccountError>;

/// The account, history and generation service. Cheap to clone.
#[derive(Clone)]
pub enum Service {
    Local(Accounts),
    Remote(HubClient),
}

impl Service {
    /// The hub when `hub.url` is set, else the store and mailer of this
    /// machine.
    pub async fn open(settings: &Settings) -> Result<Self> {
        match settings.hub.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Ok(Service::Remote(HubClient::new(settings, url)?)),
            None => Ok(Service::Local(super::open(settings).await?)),
        }
    }

    pub async fn signup(&self, email: &str, username: &str, password: &str) -> Result<UserView> {
        match self {
            Service::Local(a) => a.signup(email, username, password).await,
            Service::Remote(h) => h.signup(email, username, password).await,
        }
    }

    pub async fn login(&self, name: &LoginName, password: &str) -> Result<UserView> {
        match self {
            Service::Local(a) => a.login(name, password).await,
            Service::Remote(h) => h.login(name, password).await,
        }
    }

    pub async fn logout(&self) -> Result<()> {
        match self {
            Service::Local(a) => a.logout().await,
            Service::Remote(h) => h.logout().await,
        }
    }

    pub async fn forgot(&self, email: &str) -> Result<String> {
        match self {
            Service::Local(a) => a.forgot(email).await,
            Service::Remote(h) => h.forgot(email).await,
        }
    }

    pub async fn reset(&self, email: &str, code: &str, new_password: &str) -> Result<()> {
        match self {
            Service::Local(a) => a.reset(email, code, new_password).await,
            Service::Remote(h) => h.reset(email, code, new_password).await,
        }
    }

    pub async fn change_password(&self, current: &str, new_password: &str) -> Result<()> {
        match self {
            Service::Local(a) => a.change_password(current, new_password).await,
            Service::Remote(h) => h.change_password(current, new_password).await,
        }
    }

    pub async fn delete_account(&self, password: &str) -> Result<()> {
        match self {
            Service::Local(a) => a.delete_account(password).await,
            Service::Remote(h) => h.delete_account(password).await,
        }
    }

    pub async fn profile(&self) -> Result<Profile> {
        match self {
            Service::Local(a) => a.profile().await,
            Service::Remote(h) => h.profile().await,
        }
    }

    /// The logged-in user, as the store (or the hub) has them now.
    pub async fn current(&self) -> Result<UserView> {
        match self {
            Service::Local(a) => a.current().await.map(|u| UserView::from(&u)),
            Service::Remote(h) => h.current().await,
        }
    }

    /// The logged-in user for work done on their behalf: locally from the
    /// sessions this process validated when it can (see
    /// [`Accounts::session_user`]).
    pub async fn session_user(&self) -> Result<UserView> {
        match self {
            Service::Local(a) => a.session_user().await.map(|u| UserView::from(&u)),
            Service::Remote(h) => h.current().await,
        }
    }

    pub async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        match self {
            Service::Local(a) => a.history(query).await,
            Service::Remote(h) => h.history(query).await,
        }
    }

    pub async fn history_item(&self, id: &str) -> Result<HistoryItem> {
        match self {
            Service::Local(a) => a.history_item(id).await,
            Service::Remote(h) => h.history_item(id).await,
        }
    }

    pub async fn delete_history_item(&self, id: &str) -> Result<()> {
        match self {
            Service::Local(a) => a.delete_history_item(id).await,
            Service::Remote(h) => h.delete_history_item(id).await,
        }
    }

    pub async fn clear_history(&self) -> Result<u64> {
        match self {
            Service::Local(a) => a.clear_history().await,
            Service::Remote(h) => h.clear_history().await,
        }
    }

    /// Wait until mail handed over locally is sent (nothing to wait for
    /// with a hub: it sends).
    pub async fn wait_for_mail(&self) {
        if let Service::Local(a) = self {
            a.wait_for_mail().await;
        }
    }

    /// Generate code: with `assistant` here, or on the hub.
    pub async fn generate(
        &self,
        assistant: &Assistant,
        req: &GenerateRequest,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> std::result::Result<Answer, ModelError> {
        match self {
            Service::Local(_) => assistant.generate(req, progress, cancel).await,
            Service::Remote(h) => h.generate(req, progress, cancel).await,
        }
    }

    /// Explain code: with `assistant` here, or on the hub.
    pub async fn explain(
        &self,
        assistant: &Assistant,
        req: &ExplainRequest,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> std::result::Result<Answer, ModelError> {
        match self {
            Service::Local(_) => assistant.explain(req, progress, cancel).await,
            Service::Remote(h) => h.explain(req, progress, cancel).await,
        }
    }

    /// Record the outcome in the user's history. The hub records the work
    /// it runs itself, so a remote service writes nothing here.
    pub async fn record(&self, recording: &Recording, outcome: &Outcome) {
        if let Service::Local(a) = self {
            recording.record(a, outcome).await;
        }
    }

    /// Record work that stopped on an internal error (see [`Self::record`]).
    pub async fn record_internal_error(&self, recording: &Recording) {
        if let Service::Local(a) = self {
            recording.record_internal_error(a).await;
        }
    }

    /// The hub this service asks, if it is remote.
    pub fn hub(&self) -> Option<&HubClient> {
        match self {
            Service::Local(_) => None,
            Service::Remote(h) => Some(h),
        }
    }
}

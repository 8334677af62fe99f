//! Sending mail: over SMTP (lettre, TLS and authentication as the URL
//! says), or, with no SMTP configured, into an outbox folder as `.eml`
//! files a person can open.
//!
//! Errors name the server's host and never the credentials in its URL.

use std::path::PathBuf;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::SmtpSettings;

/// One email: a plain-text and an HTML part.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where a message went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent { host: String },
    Outbox(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail server at {host} did not take the message ({reason}); check CODEGENIE_SMTP_URL and try again")]
    Smtp { host: String, reason: String },
    #[error("the message could not be written to the outbox {dir}: {reason}")]
    Outbox { dir: String, reason: String },
    #[error(
        "CODEGENIE_SMTP_URL is not a valid SMTP URL ({reason}); use e.g. smtps://user:pass@host:465 or smtp://host:587?tls=required"
    )]
    BadUrl { reason: String },
    #[error("the sender address `{0}` is not valid; check CODEGENIE_MAIL_FROM")]
    BadFrom(String),
    #[error("`{0}` is not a valid recipient address")]
    BadTo(String),
}

/// Something that delivers mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<Delivery, MailError>;
}

/// The mailer the configuration asks for: SMTP when `smtp.url` is set,
/// otherwise the outbox under the data directory.
pub fn from_settings(smtp: &SmtpSettings, data_dir: &std::path::Path) -> Result<Box<dyn Mailer>, MailError> {
    let from: Mailbox = smtp.from.parse().map_err(|_| MailError::BadFrom(smtp.from.clone()))?;
    match &smtp.url {
        Some(url) if !url.is_empty() => Ok(Box::new(SmtpMailer::new(url.expose(), from)?)),
        _ => Ok(Box::new(OutboxMailer { dir: data_dir.join("outbox"), from })),
    }
}

fn build(from: &Mailbox, mail: &Mail) -> Result<Message, MailError> {
    let to: Mailbox = mail.to.parse().map_err(|_| MailError::BadTo(mail.to.clone()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|e| MailError::BadTo(e.to_string()))
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(url: &str, from: Mailbox) -> Result<Self, MailError> {
        let host = host_of(url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::BadUrl { reason: scrub(&e.to_string(), url) })?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        Ok(Self { transport, host, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<Delivery, MailError> {
        let message = build(&self.from, mail)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(Delivery::Sent { host: self.host.clone() }),
            Err(e) => Err(MailError::Smtp { host: self.host.clone(), reason: e.to_string() }),
        }
    }
}

pub struct OutboxMailer {
    pub dir: PathBuf,
    pub from: Mailbox,
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<Delivery, MailError> {
        let message = build(&self.from, mail)?;
        let outbox_error = |reason: String| MailError::Outbox { dir: self.dir.display().to_string(), reason };
        // Whole or not at all, and the owner's only: a mail carries a
        // one-time code.
        // Staged beside the outbox: its readers see only whole mails.
        let id = crate::store::new_id();
        let path = self.dir.join(format!("{id}.eml"));
        let staging = self.dir.with_file_name(format!(".outbox-{id}.tmp"));
        let (to, bytes) = (path.clone(), message.formatted());
        tokio::task::spawn_blocking(move || super::saved::write_private_via(&staging, &to, &bytes))
            .await
            .map_err(|e| outbox_error(e.to_string()))?
            .map_err(|e| outbox_error(e.to_string()))?;
        Ok(Delivery::Outbox(path))
    }
}

/// `host:port` of a URL, for messages (never the user info).
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_owned()
}

/// Remove the URL (and so its credentials) from an error text.
fn scrub(text: &str, url: &str) -> String {
    let mut t = text.replace(url, "<url>");
    if let Some((_, rest)) = url.split_once("://")
        && let Some((userinfo, _)) = rest.split_once('@')
    {
        t = t.replace(userinfo, "<redacted>");
        if let Some((_, pass)) = userinfo.split_once(':')
            && !pass.is_empty()
        {
            t = t.replace(pass, "<redacted>");
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_never_carry_credentials() {
        assert_eq!(host_of("smtps://bob:s3cret@mail.example.com:465"), "mail.example.com:465");
        assert_eq!(host_of("smtp://127.0.0.1:2525?tls=none"), "127.0.0.1:2525");
        assert!(!scrub("bad s3cret in bob:s3cret", "smtps://bob:s3cret@h").contains("s3cret"));
    }

    #[test]
    fn bad_urls_and_addresses_are_reported() {
        let from: Mailbox = "CodeGenie <no-reply@localhost>".parse().unwrap();
        let err = SmtpMailer::new("ftp://user:pw-SECRET@host", from).err().unwrap();
        assert!(!err.to_string().contains("pw-SECRET"), "{err}");
        let smtp = SmtpSettings { url: None, from: "not an address".into() };
        let err = from_settings(&smtp, std::path::Path::new("/tmp")).err().unwrap();
        assert!(err.to_string().contains("CODEGENIE_MAIL_FROM"), "{err}");
    }

    #[tokio::test]
    async fn outbox_writes_a_multipart_eml() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = from_settings(&SmtpSettings::default(), dir.path()).unwrap();
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Your code".into(),
            text: "plain body".into(),
            html: "<p>html body</p>".into(),
        };
        let Delivery::Outbox(path) = mailer.send(&mail).await.unwrap() else { panic!("outbox") };
        assert!(path.starts_with(dir.path().join("outbox")));
        let eml = std::fs::read_to_string(&path).unwrap();
        assert!(eml.contains("To: ada@example.com"), "{eml}");
        assert!(eml.contains("multipart/alternative"), "{eml}");
        assert!(eml.contains("plain body") && eml.contains("html body"), "{eml}");
        // A mail may carry a one-time code: the owner's only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!((mode(&path), mode(&dir.path().join("outbox"))), (0o600, 0o700));
        }
    }
}

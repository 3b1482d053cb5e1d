//! Helpers shared by the command groups.

use std::future::Future;

use secrecy::SecretString;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::server;
use crate::store::{self, DynStore};

/// Open the store for a one-shot command; the schema must be current.
pub(super) async fn with_store<F, Fut>(config: &Config, f: F) -> Result<()>
where
    F: FnOnce(DynStore) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let store = store::connect(config).await?;
    server::prepare_schema(store.as_ref()).await?;
    let result = f(store.clone()).await;
    store.close().await;
    result
}

/// Read a credential value from stdin: trailing newlines are dropped, an
/// empty value is refused, the buffer is zeroized.
pub(super) fn read_secret_from_stdin() -> Result<SecretString> {
    use std::io::{IsTerminal, Read};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Paste the secret, then press Enter and Ctrl-D:");
    }
    let mut buffer = zeroize::Zeroizing::new(Vec::new());
    stdin
        .lock()
        .take(crate::vault::MAX_SECRET_BYTES as u64 + 2)
        .read_to_end(&mut buffer)?;
    let text = std::str::from_utf8(&buffer)
        .map_err(|_| Error::InvalidInput("the secret on stdin is not valid UTF-8".into()))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Err(Error::InvalidInput(
            "no secret on stdin; pipe it in, e.g. printf %s \"$OPENAI_API_KEY\" | vieagent credentials set …".into(),
        ));
    }
    Ok(SecretString::from(text))
}

/// RFC 3339, or a date (midnight UTC).
pub(super) fn parse_when(flag: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "{flag}: '{value}' is not a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

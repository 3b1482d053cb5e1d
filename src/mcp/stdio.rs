//! `vieagent stdio`: one MCP session over stdin/stdout for one user (the
//! owner of `VIEAGENT_API_KEY`), as Claude Desktop / Cursor launch it.
//! stdout carries only the protocol; logs go to stderr.

use std::sync::Arc;

use rmcp::ServiceExt;
use secrecy::ExposeSecret;

use super::handler::GatewayHandler;
use crate::error::{Error, Result};
use crate::state::AppState;

/// `--toolset` (`VIEAGENT_TOOLSET`) names a toolset, if given: checked
/// before anything is opened.
pub fn check_toolset(config: &crate::config::Config) -> Result<()> {
    match &config.toolset {
        Some(name) if !crate::store::toolbox::valid_toolset(name) => {
            Err(Error::InvalidInput(format!(
                "--toolset '{name}' (VIEAGENT_TOOLSET) is not a toolset name: use {}",
                crate::store::toolbox::TOOLSET_RULE
            )))
        }
        _ => Ok(()),
    }
}

/// Serve MCP on stdin/stdout until the client closes stdin or `shutdown` fires.
pub async fn serve(
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let Some(key) = state.config().api_key.clone() else {
        return Err(Error::Startup(
            "vieagent stdio needs VIEAGENT_API_KEY: the API key of the user this session acts for \
             (create one with `vieagent keys create --user you@example.com`)"
                .into(),
        ));
    };
    let Some(auth) = state
        .auth()
        .authenticate(state.store_arc(), key.expose_secret())
        .await?
    else {
        return Err(Error::Startup(
            "VIEAGENT_API_KEY is not a valid API key (unknown, revoked, or its user is disabled)"
                .into(),
        ));
    };
    check_toolset(state.config())?;
    let toolset = state.config().toolset.clone();
    tracing::info!(user_id = %auth.user.id, tools = state.catalog().snapshot().len(), toolset = toolset.as_deref().unwrap_or(""), "serving MCP on stdio");
    let handler = GatewayHandler::stdio(state.clone(), Arc::clone(&auth.user), toolset);
    let ct = state.shutdown_token().child_token();
    let stop = ct.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    let limit = state.config().mcp.max_request_bytes;
    let running = handler
        .serve_with_ct(
            guarded(tokio::io::stdin(), tokio::io::stdout(), limit),
            ct.clone(),
        )
        .await
        .map_err(|e| Error::Startup(format!("MCP session did not start: {e}")))?;
    let reason = running.waiting().await;
    tracing::info!(?reason, "stdio session ended");
    Ok(())
}

/// Put [`super::envelope::check`] between the client and rmcp on a
/// line-delimited stream: valid lines go on to rmcp; a malformed one (or one
/// longer than `limit` bytes) is answered with a JSON-RPC error line, and the
/// session carries on. Returns the (reader, writer) pair rmcp serves on.
pub fn guarded<R, W>(
    input: R,
    output: W,
    limit: usize,
) -> (tokio::io::DuplexStream, tokio::io::DuplexStream)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (mut to_rmcp, rmcp_reads) = tokio::io::duplex(64 * 1024);
    let (rmcp_writes, from_rmcp) = tokio::io::duplex(64 * 1024);
    let (errors_tx, mut errors_rx) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        loop {
            match read_line_bounded(&mut input, limit).await {
                Ok(Line::Eof) => break,
                Ok(Line::TooLong) => {
                    let error = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {
                        "code": -32600,
                        "message": format!("Invalid Request: the message is larger than {limit} bytes")}});
                    if errors_tx.send(error.to_string()).await.is_err() {
                        break;
                    }
                }
                Ok(Line::Text(line)) => {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match super::envelope::check(&line) {
                        Ok(()) => {
                            if to_rmcp.write_all(&line).await.is_err()
                                || to_rmcp.write_all(b"\n").await.is_err()
                            {
                                break;
                            }
                        }
                        Err(rejection) => {
                            metrics::counter!("vieagent_mcp_rejected_messages_total", "transport" => "stdio")
                                .increment(1);
                            if errors_tx
                                .send(rejection.to_json().to_string())
                                .await
                                .is_err()
                            {
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading stdin failed");
                    break;
                }
            }
        }
        // EOF reaches rmcp, which ends the session.
        let _ = to_rmcp.shutdown().await;
    });
    tokio::spawn(async move {
        let mut output = output;
        let mut lines = BufReader::new(from_rmcp).lines();
        let mut errors_open = true;
        loop {
            let line = tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(line)) => line,
                    _ => break,
                },
                error = errors_rx.recv(), if errors_open => match error {
                    Some(line) => line,
                    None => {
                        errors_open = false;
                        continue;
                    }
                },
            };
            if output.write_all(line.as_bytes()).await.is_err()
                || output.write_all(b"\n").await.is_err()
                || output.flush().await.is_err()
            {
                break;
            }
        }
    });
    (rmcp_reads, rmcp_writes)
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    Eof,
}

/// One `\n`-terminated line of at most `limit` bytes; a longer one is
/// skipped to its end without being held in memory.
async fn read_line_bounded<R>(reader: &mut R, limit: usize) -> std::io::Result<Line>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    use tokio::io::AsyncBufReadExt;
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if line.is_empty() {
                Line::Eof
            } else {
                Line::Text(line)
            });
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if line.len() + chunk.len() > limit {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let consumed = done.unwrap_or(buf.len());
        reader.consume(consumed);
        if done.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[tokio::test]
    async fn bad_lines_get_errors_and_good_lines_pass_through() {
        let (mut client, server_side_in) = tokio::io::duplex(1 << 16);
        let (server_side_out, client_reads) = tokio::io::duplex(1 << 16);
        let (rmcp_in, mut rmcp_out) = super::guarded(server_side_in, server_side_out, 64);
        client
            .write_all(b"{\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\n")
            .await
            .expect("write");
        client
            .write_all(format!("{}\n[]\n", "x".repeat(100)).as_bytes())
            .await
            .expect("write");
        drop(client);
        // rmcp sees exactly the valid line, then EOF.
        let mut passed = BufReader::new(rmcp_in).lines();
        assert_eq!(
            passed.next_line().await.expect("read").as_deref(),
            Some("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}")
        );
        assert_eq!(passed.next_line().await.expect("read"), None);
        // rmcp's own output is relayed between the error lines.
        rmcp_out
            .write_all(b"{\"from\":\"rmcp\"}\n")
            .await
            .expect("write");
        drop(rmcp_out);
        let mut out = BufReader::new(client_reads).lines();
        let mut got = Vec::new();
        while let Some(line) = out.next_line().await.expect("read") {
            got.push(line);
        }
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got.iter().any(|l| l.contains("-32700")), "{got:?}");
        assert!(
            got.iter().any(|l| l.contains("larger than 64 bytes")),
            "{got:?}"
        );
        assert!(got.iter().any(|l| l.contains("empty batch")), "{got:?}");
        assert!(got.iter().any(|l| l.contains("rmcp")), "{got:?}");
    }
}

//! Logging setup. Logs always go to stderr: stdout belongs to command output
//! and, for `vieagent stdio`, to the MCP protocol.
//!
//! Built with the `otel` feature and given `otlp_endpoint`, spans are also
//! exported over OTLP/HTTP (protobuf) by a batch processor on its own thread.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, LogFormat};

/// Keeps exporters alive; dropping it flushes the spans not yet exported.
#[must_use = "dropping the guard stops span export"]
#[derive(Default)]
pub struct Guard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: OpenTelemetry export did not flush: {e}");
        }
    }
}

/// Install the global subscriber. Safe to call more than once (later calls
/// are no-ops). Call it outside any async runtime.
pub fn init(config: &Config) -> Guard {
    let mut filter =
        EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    // rmcp's debug lines print whole MCP messages: tool results and the
    // connect links in them (a link works as a password until used), and
    // at info it writes a line for every stateless request it serves
    // ("serve finished"), which is the gateway's own access log repeated,
    // one write per call. Kept at warn unless the filter names rmcp itself.
    if !config.log_level.contains("rmcp")
        && let Ok(directive) = "rmcp=warn".parse()
    {
        filter = filter.add_directive(directive);
    }
    let (json, text) = match config.log_format {
        LogFormat::Json => (
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr)
                    .with_span_events(FmtSpan::NONE),
            ),
            None,
        ),
        LogFormat::Text => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::io::stderr)
                    .with_span_events(FmtSpan::NONE),
            ),
        ),
    };
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(text);
    #[cfg(feature = "otel")]
    {
        let (layer, provider) = match otel::layer(config) {
            Ok(Some((layer, provider))) => (Some(layer), Some(provider)),
            Ok(None) => (None, None),
            Err(e) => {
                eprintln!("warning: OpenTelemetry export disabled: {e}");
                (None, None)
            }
        };
        let _ = registry.with(layer).try_init();
        Guard { provider }
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = registry.try_init();
        Guard::default()
    }
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use crate::config::Config;

    /// The OTLP traces URL for a collector base URL (`…:4318` → `…:4318/v1/traces`).
    pub(super) fn traces_url(base: &url::Url) -> String {
        let base = base.as_str().trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_string()
        } else {
            format!("{base}/v1/traces")
        }
    }

    type Layer<S> = tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>;

    /// The export layer and its provider (to flush at exit), if configured.
    pub(super) fn layer<S>(
        config: &Config,
    ) -> Result<Option<(Layer<S>, SdkTracerProvider)>, opentelemetry_otlp::ExporterBuildError>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let Some(endpoint) = &config.otlp_endpoint else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name("vieagent")
                    .with_attribute(opentelemetry::KeyValue::new(
                        "service.version",
                        env!("CARGO_PKG_VERSION"),
                    ))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("vieagent");
        Ok(Some((
            tracing_opentelemetry::layer().with_tracer(tracer),
            provider,
        )))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn collector_base_urls_get_the_traces_path_once() {
            for (base, want) in [
                ("http://c:4318", "http://c:4318/v1/traces"),
                ("http://c:4318/", "http://c:4318/v1/traces"),
                ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
                ("https://c/otel/", "https://c/otel/v1/traces"),
            ] {
                let url = url::Url::parse(base).expect("url");
                assert_eq!(super::traces_url(&url), want);
            }
        }
    }
}

//! `ferry serve s3://BUCKET/PREFIX` and `ferry serve az://CONTAINER/PREFIX`:
//! object storage as the root, with an optional local disk cache of bodies
//! (`--cache-dir`).
use crate::{args, config, net, sites, tls};
use anyhow::{bail, Context as _};
use ferry::store::bucket::{BucketStore, DiskCache};
use object_store::{ObjectStore, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// Whether `root` names object storage rather than a directory.
pub(crate) fn is_url(root: &str) -> bool {
    root.starts_with("s3://") || root.starts_with("az://")
}

/// Checks the bucket before listening, so a wrong name or credentials fail
/// at start (exit 2), not on the first request. The disk cache is opened
/// once: a reload rebuilds the store around the same cache.
pub(crate) fn serve(
    a: &args::ServeArgs,
    url: &str,
    provenance: &config::Provenance,
) -> anyhow::Result<()> {
    if !provenance.sites.is_empty() {
        bail!("[[site]] tables serve directories; with the bucket {url} as root, give each site its own ferry");
    }
    let https = a.tls.has_certificate();
    tls::check_https_flags(&a.tls, https)?;
    let cache = match &a.cache_dir {
        Some(dir) => {
            let c = DiskCache::open(dir, a.cache_size)
                .with_context(|| format!("--cache-dir {}", dir.display()))?
                .max_object(a.cache_max_object)
                .stale_if_error(Duration::from_secs(a.stale_if_error));
            crate::metrics::watch_cache(&c);
            Some(c)
        }
        None => None,
    };
    let probe = store(a, url, None)?;
    net::runtime()?
        .block_on(probe.check())
        .with_context(|| format!("cannot list {url}"))?;
    // Built again: the check's connections belong to a runtime that ends with it.
    let sites = bucket_sites(a, url, cache.clone())?;
    crate::check_auth_transport(a, &sites, https)?;
    let running = a.clone();
    let reload = move || -> anyhow::Result<_> {
        let (a, _) = crate::reparse()?;
        for key in config::keys::restart_only_changes(&running, &a) {
            eprintln!("ferry: `{key}` changed: it applies after a restart");
        }
        match a.dir.as_deref().and_then(|d| d.to_str()) {
            Some(url) if is_url(url) => {
                let sites = bucket_sites(&a, url, cache.clone())?;
                crate::check_auth_transport(&a, &sites, https)?;
                Ok(sites)
            }
            _ => bail!("the root changed from a bucket to a directory: restart to apply"),
        }
    };
    crate::run_sites(a, sites, reload, &format!("serving {url}"))
}

fn bucket_sites(
    a: &args::ServeArgs,
    url: &str,
    cache: Option<DiskCache>,
) -> anyhow::Result<sites::Sites<BucketStore>> {
    let svc = ferry::ServeDir::new(store(a, url, cache)?)
        .hidden(crate::hidden(a))
        .cache_policy(crate::cache_policy(a)?)
        .browse(a.browse)
        .compress(crate::compress(a)?);
    let policy = crate::policy::Policy::new(&a.site)?.map(Arc::new);
    Ok(sites::Sites::single(sites::Site {
        svc,
        cert: None,
        policy,
    }))
}

/// The object_store client's own request timeout: none in effect (it runs
/// from connect to the last body byte, so it would cut a big object sent to
/// a slow client); the store bounds each answer and each stall of a body by
/// --store-timeout itself. A day stays as a backstop.
const BACKSTOP: &str = "86400s";

/// The store for `url`, configured from the environment and `a`'s flags,
/// named in the disk cache by its URL and endpoint (a cache directory kept
/// across a change of either never serves the other store's objects).
fn store(a: &args::ServeArgs, url: &str, cache: Option<DiskCache>) -> anyhow::Result<BucketStore> {
    // At least 1: --store-timeout's range.
    let timeout = Duration::from_secs(a.store_timeout);
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: timeout,
        ..RetryConfig::default()
    };
    let (store, prefix, id): (Arc<dyn ObjectStore>, &str, String) =
        if let Some(rest) = url.strip_prefix("az://") {
            let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if container.is_empty() {
                bail!("{url}: expected az://CONTAINER[/PREFIX]");
            }
            use object_store::azure::AzureConfigKey;
            use object_store::ClientConfigKey;
            // The emulator (AZURE_STORAGE_USE_EMULATOR) allows plain HTTP itself.
            let az = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(container);
            let id = format!(
                "{} account={} endpoint={}",
                url.trim_end_matches('/'),
                az.get_config_value(&AzureConfigKey::AccountName)
                    .unwrap_or_default(),
                az.get_config_value(&AzureConfigKey::Endpoint)
                    .unwrap_or_default(),
            );
            let az = az
                // Key by key, as for S3: from_env's client options stay.
                .with_config(AzureConfigKey::Client(ClientConfigKey::Timeout), BACKSTOP)
                .with_config(
                    AzureConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    "5s",
                )
                .with_retry(retry)
                .build()
                .with_context(|| format!("cannot configure {url}"))?;
            (Arc::new(az), prefix, id)
        } else {
            s3(a, url, retry)?
        };
    let mut s = BucketStore::new(store, prefix)
        .precompressed(!a.no_precompressed)
        .metadata_ttl(Some(Duration::from_secs(a.metadata_ttl)))
        .timeout(Some(timeout))
        .store_id(id)
        .content_types(crate::mime_table(a)?);
    if let Some(c) = cache {
        s = s.disk_cache(c);
    }
    Ok(s)
}

fn s3<'u>(
    a: &args::ServeArgs,
    url: &'u str,
    retry: RetryConfig,
) -> anyhow::Result<(Arc<dyn ObjectStore>, &'u str, String)> {
    use object_store::aws::AmazonS3ConfigKey;
    use object_store::ClientConfigKey;
    let rest = url.trim_start_matches("s3://");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{url}: expected s3://BUCKET[/PREFIX]");
    }
    // Flags win over the environment.
    let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(e) = &a.s3_endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(r) = &a.s3_region {
        b = b.with_region(r);
    }
    if a.s3_allow_http {
        b = b.with_allow_http(true);
    }
    let id = format!(
        "{} endpoint={}",
        url.trim_end_matches('/'),
        b.get_config_value(&AmazonS3ConfigKey::Endpoint)
            .unwrap_or_default()
    );
    let s3 = b
        // Set key by key: replacing the client options would drop what
        // from_env read (AWS_ALLOW_HTTP, proxies).
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            BACKSTOP,
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5s",
        )
        .with_retry(retry)
        .build()
        .with_context(|| format!("cannot configure {url}"))?;
    Ok((Arc::new(s3), prefix, id))
}

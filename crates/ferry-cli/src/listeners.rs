//! A command's listeners, put together: the main listener with its wire
//! layer (the HTTP/1.1 fast path for plaintext, [`crate::hyper_wire`] for
//! HTTPS and h2c, and QUIC's UDP endpoint for HTTP/3 beside HTTPS), the
//! `--redirect-http` listener, the signal handlers, and the announcement.
//! Both `ferry serve` and `ferry proxy` start here.
use crate::net::{self, Bound};
use crate::observe::Observer;
use crate::pipeline::{App, Pipeline};
use crate::settings::Settings;
use crate::tls::Https;
use anyhow::Context as _;
use std::future::Future;
use std::sync::Arc;

/// Serves `app` on `--listen` (over HTTPS with `https`, or h2c with `h2c`)
/// until SIGINT or SIGTERM. `setup` runs in the main runtime before anything
/// is accepted (its own SIGHUP handlers, say); `what` is announced as
/// `ferry: {what} on {scheme}://{addr}/`.
pub(crate) fn run<A, F>(
    settings: &Settings,
    app: A,
    https: Option<Arc<Https>>,
    h2c: bool,
    what: &str,
    setup: impl FnOnce() -> F,
) -> anyhow::Result<()>
where
    A: App,
    F: Future<Output = anyhow::Result<()>>,
{
    let observer = observer(settings);
    let pipeline = |app| pipeline(settings, &observer, app);
    let main = net::listen_main(settings.listen)?;
    let addr = main.local_addr()?;
    let mut listeners = Vec::new();
    #[cfg_attr(not(feature = "http3"), allow(unused_mut))]
    let mut datagrams = Vec::new();
    let mut redirect = None;
    #[cfg_attr(not(feature = "http3"), allow(unused_mut))]
    let mut http3: Option<std::net::SocketAddr> = None;
    let serve = match &https {
        Some(h) => {
            let mut p = pipeline(app);
            Arc::get_mut(&mut p).expect("not shared yet").hsts = h.hsts.clone();
            // HTTP/3 on the same port over UDP, with the same pipeline.
            #[cfg(feature = "http3")]
            if let Some(h3) = h.http3 {
                let udp = net::listen_udp(addr)?;
                let at = udp.local_addr()?;
                http3 = Some(at);
                // The port QUIC is really on (systemd may pass another).
                Arc::get_mut(&mut p).expect("not shared yet").alt_svc = h3.alt_svc(at.port());
                datagrams.push(crate::quic::serve(p.clone(), settings, h, h3, udp)?);
            }
            crate::hyper_wire::serve(p, settings, Some(h.clone()))
        }
        None if h2c => crate::hyper_wire::serve(pipeline(app), settings, None),
        None => crate::h1::serve(pipeline(app), settings),
    };
    listeners.push(Bound::new(main, serve, settings));
    if let Some(h) = &https {
        if let Some(plain) = h.redirect_addr() {
            let l = net::listen(plain)?;
            redirect = Some(l.local_addr()?);
            let app = h.redirect_app(addr.port());
            let serve = crate::h1::serve(self::pipeline(settings, &observer, app), settings);
            listeners.push(Bound::new(l, serve, settings));
        }
    }
    let mut exposition = None;
    if let Some(at) = settings.metrics {
        let l = net::listen(at).context("--metrics")?;
        exposition = Some(l.local_addr()?);
        // Scrapes are neither logged nor counted.
        let p = Arc::new(Pipeline {
            app: crate::metrics::Exposition,
            max_head: settings.max_head,
            health: None,
            hsts: None,
            alt_svc: None,
            observer: Observer::default(),
        });
        listeners.push(Bound::new(l, crate::h1::serve(p, settings), settings).ungauged());
    }
    let scheme = if https.is_some() { "https" } else { "http" };
    let log = settings.log.clone();
    net::run(settings, listeners, datagrams, async move {
        if let Some(log) = log {
            net::on_hup(move || log.reopen());
        } else {
            net::on_hup(|| {});
        }
        setup().await?;
        if let Some(m) = exposition {
            eprintln!("ferry: Prometheus metrics at http://{m}/metrics");
        }
        if let Some(r) = redirect {
            eprintln!("ferry: redirecting http://{r}/ to https");
        }
        if let Some(h) = &https {
            h.start().await?;
        }
        if let Some(q) = http3 {
            eprintln!("ferry: HTTP/3 (QUIC) on UDP {q}");
        }
        eprintln!("ferry: {what} on {scheme}://{addr}/");
        Ok(())
    })
}

/// The observer `settings` ask for.
pub(crate) fn observer(settings: &Settings) -> Observer {
    Observer::new(settings.log.clone(), settings.metrics.is_some())
}

fn pipeline<A: App>(settings: &Settings, observer: &Observer, app: A) -> Arc<Pipeline<A>> {
    Arc::new(Pipeline {
        app,
        max_head: settings.max_head,
        health: settings.health.clone(),
        hsts: None,
        alt_svc: None,
        observer: observer.clone(),
    })
}

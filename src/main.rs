//! The `umsgate` command: parses the command line and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use umsgate::config::{self, Environment, Settings};
use umsgate::sandbox;
use umsgate::startup::{shutdown_signal, Application};
use umsgate::store::{Db, Target};

/// umsgate — a reconciliation gateway for ChinaUMS payments.
///
/// Records the bills a backend creates, takes the provider's signed notifications,
/// queries the provider for orders left pending, and serves every order's true state.
/// Configuration: the built-in defaults (config/default.toml, compiled in), the overlay
/// UMSGATE_ENV selects (test-env, production), the files of --config-dir if given, and
/// UMSGATE__SECTION__KEY environment variables. RUST_LOG sets the log level (default info).
#[derive(Parser)]
#[command(name = "umsgate", version)]
struct Cli {
    /// Directory whose default.toml and overlay (production.toml, test-env.toml), where
    /// present, apply on top of the built-in defaults; every key in them is optional.
    #[arg(long, global = true, env = "UMSGATE_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the api and notify listeners (the default).
    Serve,
    /// Run a scripted lifecycle against the embedded sandbox on a throw-away database and
    /// print what happened: paid with its notification, paid with the notification lost
    /// and found by the reconciler, expired unpaid, a forged notification refused.
    Demo,
    /// Create or upgrade the database, then exit.
    Migrate,
    /// Copy the live database to FILE (which must not exist) while the gateway serves:
    /// one consistent snapshot. Restore: stop the gateway, put the copy at store.path
    /// (removing its -wal and -shm files), start it. SQLite only: on PostgreSQL it refuses
    /// and points to pg_dump or continuous archiving.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
    },
    /// Load and validate the configuration (every problem at once), print the effective
    /// configuration with where each value came from (secrets redacted), then exit.
    CheckConfig,
    /// Delete rejected and duplicate notifications and provider calls older than
    /// `retention.max_age` (never a row an order's event cites, nor any row of an order
    /// that is not final), print how many, then exit.
    Prune,
    /// Run only the provider sandbox: a stand-in for ChinaUMS to test an integration against.
    #[command(long_about = SANDBOX_HELP)]
    Sandbox {
        /// Listen address (overrides `sandbox.bind`, default 127.0.0.1:8090).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
}

/// `umsgate sandbox --help`.
const SANDBOX_HELP: &str = r#"Run only the provider sandbox: a stand-in for the ChinaUMS open platform, to test a
backend integration without the provider. It speaks the provider's protocol exactly
(docs/protocol.md): point your client's provider base URL at it, unchanged otherwise.

CREDENTIALS. It plays the provider for the merchant in the configuration's [provider]
section (default: the provider's public test credentials: appId
10037e6f6823b20801682b6a5e5a0006, appKey 1c4e3b16066244ae9b236a09e5b312e8, mid
898340149000005, tid 88880001, msgSrcId 1017) and signs notifications with the first of
notify.keys (default impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6). Order ids and bill
numbers must start with the msgSrcId.

PROVIDER ROUTES (JSON; Authorization OPEN-BODY-SIG, or OPEN-ACCESS-TOKEN with a token from
/v1/token/access):
  POST /v1/token/access                  {appId,timestamp,nonce,signMethod:"SHA256",signature}
  POST /v1/netpay/bills/update-qrcode    bind a bill to a QR code (billNo, totalAmount, notifyUrl…)
  POST /v1/netpay/wx/mini-pre-query      an order's state, by merOrderId or targetOrderId
  POST /v1/netpay/bills/query            a bill's state (billStatus, billPayment), by billNo
                                         and billDate; NO_BILL when there is none
  POST /v1/netpay/preauthed              complete a pre-authorised payment
Auth failures answer 401 {"errCode":"1000".."1006","errInfo":…} (a malformed token
request: 400, "1007"); business answers are
HTTP 200 with errCode SUCCESS, BAD_REQUEST (naming the field), NO_ORDER (NO_BILL from the
bill query), NO_MERCHANT, DUP_ORDER or OPERATION_NOT_ALLOWED.

ACT AS THE BUYER (control routes, JSON, this listener only). Every change POSTs a signed
form notification to the order's notifyUrl, resent on sandbox.notify_backoff until the
reply's body contains SUCCESS:
  POST /_sandbox/orders                  {merOrderId,totalAmount,notifyUrl?,expireTime?}
                                         a mini-program order, created at the provider
  GET  /_sandbox/orders/{id}             the provider's truth, with notification counts
  POST /_sandbox/orders/{id}/pay         {amount?,preauth?,notify?}  notify:false loses it
  POST /_sandbox/orders/{id}/refund      {amount}  refunds add up; refundAmount = running total
  POST /_sandbox/orders/{id}/close       close an unpaid order (or release an authorisation)
  POST /_sandbox/orders/{id}/expire      an unpaid order expires now (silently)
  POST /_sandbox/contracts/{no}/notify   {contractState,notifyUrl,…}  a contract notice
  GET  /_sandbox/calls                   every provider call received, auth verified or not

FAULTS (also [sandbox.faults] in the configuration):
  POST /_sandbox/faults  {dropNotifications,duplicateNotifications,reorderNotifications,
                          reorderHoldMs,notificationDelayMs,queryErrorRate,queryTimeoutRate,queryDelayMs,
                          answerLossRate, garbageRate,miniPreQueryBills}   rates 0..1; GET shows them
                         miniPreQueryBills: finds-bill | attempt-id-only | down (how
                         mini-pre-query treats a bill; POST /v1/netpay/bills/query always finds it)

EXAMPLES (against `umsgate sandbox` on the default port):
  # a token: timestamp in Beijing time, signature = sha256(appId+timestamp+nonce+appKey)
  APP=10037e6f6823b20801682b6a5e5a0006 KEY=1c4e3b16066244ae9b236a09e5b312e8
  TS=$(TZ=Asia/Shanghai date +%Y%m%d%H%M%S) NONCE=$(openssl rand -hex 16)
  SIG=$(printf '%s' "$APP$TS$NONCE$KEY" | sha256sum | cut -d' ' -f1)
  TOKEN=$(curl -s localhost:8090/v1/token/access -H 'Content-Type: application/json' \
    -d "{\"appId\":\"$APP\",\"timestamp\":\"$TS\",\"nonce\":\"$NONCE\",\"signMethod\":\"SHA256\",\"signature\":\"$SIG\"}" \
    | sed 's/.*"accessToken":"\([^"]*\)".*/\1/')
  # bind a bill, then pay it as the buyer, refund part of it, and query it
  curl -s localhost:8090/v1/netpay/bills/update-qrcode -H "Authorization: OPEN-ACCESS-TOKEN AccessToken=$TOKEN" \
    -H 'Content-Type: application/json' -d "{\"requestTimestamp\":\"$(TZ=Asia/Shanghai date '+%F %T')\",
    \"mid\":\"898340149000005\",\"tid\":\"88880001\",\"instMid\":\"QRPAYDEFAULT\",\"qrCodeId\":\"QR0001\",
    \"billNo\":\"1017DEMO0001\",\"totalAmount\":100,\"notifyUrl\":\"http://127.0.0.1:8081/notify/payment\"}"
  curl -s -X POST localhost:8090/_sandbox/orders/1017DEMO0001/pay
  curl -s -X POST localhost:8090/_sandbox/orders/1017DEMO0001/refund -d '{"amount":40}'
  curl -s localhost:8090/_sandbox/orders/1017DEMO0001
  # lose every notification, fail half the queries
  curl -s -X POST localhost:8090/_sandbox/faults -d '{"dropNotifications":1,"queryErrorRate":0.5}'"#;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = Environment::from_env().and_then(|env| {
        let figment = Settings::sources(cli.config_dir.as_deref(), env)?;
        Ok((Settings::from_figment(figment.clone(), env)?, figment))
    });
    let (settings, figment) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("umsgate: {e}");
            return ExitCode::from(2);
        }
    };
    // The demo prints its own table; its log would drown it.
    let default_level = if matches!(cli.command, Some(Command::Demo)) {
        "error"
    } else {
        "info"
    };
    umsgate::logging::init(settings.log.format, default_level);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(settings),
        Command::Backup { file } => Db::backup(&settings.store, &file)
            .map(|()| {
                println!(
                    "backup of {} written to {}",
                    Target::of(&settings.store).shown(),
                    file.display()
                )
            })
            .map_err(Into::into),
        Command::Demo => actix_web::rt::System::new()
            .block_on(umsgate::demo::run(cli.config_dir.as_deref()))
            .map(|rows| umsgate::demo::print(&rows)),
        Command::Sandbox { bind } => run_sandbox(settings, bind),
        Command::Prune => prune(&settings),
        Command::CheckConfig => {
            print!("{}", config::describe(&figment, &settings));
            println!("# configuration OK");
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("umsgate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        app.serve().await?;
        Ok(())
    })
}

fn run_sandbox(
    settings: Settings,
    bind: Option<SocketAddr>,
) -> Result<(), Box<dyn std::error::Error>> {
    let creds = settings.sandbox_credentials();
    let mut config = settings.sandbox;
    if let Some(bind) = bind {
        config.bind = bind;
    }
    actix_web::rt::System::new().block_on(async move {
        let running = sandbox::start(config, creds, umsgate::clock::Clock::system()).await?;
        println!("sandbox: the provider stand-in serves on {}", running.url());
        let handle = running.handle();
        actix_web::rt::spawn(async move {
            shutdown_signal().await;
            handle.stop(true).await;
        });
        running.into_server().await?;
        Ok(())
    })
}

fn prune(settings: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let max_age = settings.retention.max_age;
    let store = settings.store.clone();
    actix_web::rt::System::new().block_on(async move {
        let db = Db::open(&store)?;
        let pruned =
            umsgate::retention::prune(&db, max_age, umsgate::clock::Clock::system().now()).await?;
        println!(
            "pruned {} notifications and {} provider calls older than {}",
            pruned.notifications,
            pruned.provider_calls,
            humantime::format_duration(max_age)
        );
        Ok(())
    })
}

fn migrate(mut settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    // Creating the file is what `migrate` is for.
    settings.store.create_if_missing = true;
    let db = Db::connect(&settings.store)?;
    let applied = db.migrate()?;
    println!(
        "database {} is up to date{}",
        Target::of(&settings.store).shown(),
        if applied.is_empty() {
            String::new()
        } else {
            format!(" (applied {})", applied.join(", "))
        }
    );
    Ok(())
}

//! The `umsgate` command: parses the command line and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use umsgate::config::Settings;
use umsgate::startup::Application;
use umsgate::store::Db;

/// umsgate — a reconciliation gateway for ChinaUMS payments.
///
/// Records the bills a backend creates, takes the provider's signed notifications,
/// queries the provider for orders left pending, and serves every order's true state.
/// Configuration: config/default.toml, the overlay UMSGATE_ENV selects (test-env,
/// production), and UMSGATE__SECTION__KEY environment variables. RUST_LOG sets the log
/// level (default info).
#[derive(Parser)]
#[command(name = "umsgate", version)]
struct Cli {
    /// Directory holding default.toml and the overlays.
    #[arg(
        long,
        global = true,
        default_value = "config",
        env = "UMSGATE_CONFIG_DIR"
    )]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the api and notify listeners (the default).
    Serve,
    /// Create or upgrade the database, then exit.
    Migrate,
    /// Load and validate the configuration, print a summary (no secrets), then exit.
    CheckConfig,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("umsgate: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::CheckConfig => {
            println!(
                "configuration OK: provider {:?} ({:?} auth), api {}, notify {}, store {}",
                settings.provider.mode,
                settings.provider.auth,
                settings.api.bind,
                settings.notify.bind,
                settings.store.path.display()
            );
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

fn migrate(settings: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect(&settings.store)?;
    let applied = db.migrate()?;
    println!(
        "database {} is up to date{}",
        settings.store.path.display(),
        if applied.is_empty() {
            String::new()
        } else {
            format!(" (applied {})", applied.join(", "))
        }
    );
    Ok(())
}

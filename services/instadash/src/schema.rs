//! `instadash schema`: tools for the message contract under `schemas/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Check every schema file, the catalog and the Rust bindings, and that each new version of a
    /// type is compatible with the previous one. Exits non-zero naming each problem.
    Check {
        /// The schema directory to check (run from the repository root, or say where it is).
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
    },
}

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SchemaCommand::Check { dir } => match instadash_schemas::check(&dir) {
            Ok(report) => {
                println!("schemas in {}: ok ({report})", dir.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                eprintln!("schemas in {}: {} problem(s)", dir.display(), problems.len());
                for problem in &problems {
                    eprintln!("  - {problem}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
    }
}

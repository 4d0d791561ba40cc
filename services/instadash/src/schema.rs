//! `instadash schema`: tools for the message contract under `schemas/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use instadash_schemas::asyncapi;

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
    /// Generate the AsyncAPI 3.0 document of the bus (channels, operations, messages with their
    /// CloudEvents headers and payload schemas) from the catalog and the schema files.
    Asyncapi {
        /// The schema directory to read (run from the repository root, or say where it is).
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
        /// Where to write the document [default: <dir>/asyncapi.json].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write nothing; exit non-zero if the file differs from what would be generated.
        #[arg(long)]
        check: bool,
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
                eprintln!(
                    "schemas in {}: {} problem(s)",
                    dir.display(),
                    problems.len()
                );
                for problem in &problems {
                    eprintln!("  - {problem}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        SchemaCommand::Asyncapi { dir, out, check } => run_asyncapi(&dir, out.as_deref(), check),
    }
}

fn run_asyncapi(dir: &Path, out: Option<&Path>, check: bool) -> anyhow::Result<ExitCode> {
    let target = out.map_or_else(|| dir.join(asyncapi::FILE), Path::to_path_buf);
    let document = match asyncapi::generate(dir) {
        Ok(document) => document,
        Err(e) => {
            eprintln!(
                "cannot generate the AsyncAPI document from {}: {e}",
                dir.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let on_disk = match std::fs::read_to_string(&target) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
    };

    if check {
        let rerun = rerun_command(dir, out);
        return Ok(match on_disk {
            Some(text) if text == document => {
                println!("{}: up to date", target.display());
                ExitCode::SUCCESS
            }
            Some(text) => {
                eprintln!(
                    "{} is stale: run `{rerun}` (first difference at line {})",
                    target.display(),
                    first_different_line(&text, &document)
                );
                ExitCode::FAILURE
            }
            None => {
                eprintln!("{} is missing: run `{rerun}`", target.display());
                ExitCode::FAILURE
            }
        });
    }

    if on_disk.as_deref() == Some(document.as_str()) {
        println!("{}: up to date", target.display());
    } else {
        std::fs::write(&target, &document)
            .with_context(|| format!("writing {}", target.display()))?;
        println!("{}: written ({} bytes)", target.display(), document.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// The command that regenerates the document with the same directory and output.
fn rerun_command(dir: &Path, out: Option<&Path>) -> String {
    let mut command = String::from("instadash schema asyncapi");
    if dir != Path::new("schemas") {
        command.push_str(&format!(" --dir {}", dir.display()));
    }
    if let Some(out) = out {
        command.push_str(&format!(" --out {}", out.display()));
    }
    command
}

/// The 1-based number of the first line where `a` and `b` differ.
fn first_different_line(a: &str, b: &str) -> usize {
    let mut a_lines = a.lines();
    let mut b_lines = b.lines();
    let mut line = 1;
    loop {
        match (a_lines.next(), b_lines.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            _ => return line,
        }
    }
}

//! Where the services of this process keep their state: one directory, a subdirectory each.

use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct DataDirArg {
    /// Where services keep their state, a subdirectory each (tracker/, alerts/, trips/, clips/).
    #[arg(long, env = "INSTADASH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

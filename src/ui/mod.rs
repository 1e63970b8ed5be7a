//! The eframe application.

use crate::store::Target;

pub fn run(target: Target, _layout: Option<String>) -> anyhow::Result<()> {
    anyhow::bail!("the window is not built yet; opened {}", target.display())
}

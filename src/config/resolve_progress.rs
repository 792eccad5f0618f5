//! `spec.settings.state_dir` and `checkpoint_interval`: where durable
//! progress is kept and how often it is committed (`docs/guarantees.md`).

use super::model::Settings;
use super::raw::RawSettings;
use super::resolve::Resolver;

pub(super) fn progress(r: &mut Resolver, raw: &RawSettings, settings: &mut Settings) {
    if let Some(dir) = &raw.state_dir {
        if dir.value.trim().is_empty() {
            r.problems.on(dir, "spec.settings.state_dir", "must be a directory path");
        } else {
            settings.state_dir = r.path(&dir.value);
        }
    }
    if let Some(interval) = &raw.checkpoint_interval {
        match r.duration(interval, "spec.settings.checkpoint_interval") {
            Some(d) if d.is_zero() => {
                r.problems.on(interval, "spec.settings.checkpoint_interval", "must be longer than 0s")
            }
            Some(d) => settings.checkpoint_interval = d,
            None => {}
        }
    }
}

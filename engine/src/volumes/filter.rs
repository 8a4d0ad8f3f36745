//! `volume ls --filter` (and the API's `filters`): Docker's `dangling`, `name`, `label` and
//! `driver` terms.

use super::Volume;
use crate::error::{Error, Result};

/// The terms of one listing; every kind given must match (a kind given twice: either).
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    /// `dangling=true|false`: only volumes no container uses, or only used ones.
    pub dangling: Option<bool>,
    names: Vec<String>,
    labels: Vec<String>,
    drivers: Vec<String>,
}

impl VolumeFilter {
    /// Parses `KEY=VALUE` terms.
    pub fn parse(terms: &[String]) -> Result<Self> {
        let mut filter = VolumeFilter::default();
        for term in terms {
            let Some((key, value)) = term.split_once('=') else {
                return Err(Error::InvalidArgument(
                    "bad format of filter (expected name=value)".into(),
                ));
            };
            match key {
                "dangling" => {
                    filter.dangling = Some(match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(Error::InvalidArgument(format!(
                                "invalid filter 'dangling={value}'"
                            )))
                        }
                    })
                }
                "name" => filter.names.push(value.into()),
                "label" => filter.labels.push(value.into()),
                "driver" => filter.drivers.push(value.into()),
                _ => return Err(Error::InvalidArgument(format!("invalid filter '{key}'"))),
            }
        }
        Ok(filter)
    }

    /// Whether `volume` passes the name, label and driver terms (`dangling` needs the
    /// containers: [`super::Volumes::list`] applies it).
    pub fn matches(&self, volume: &Volume) -> bool {
        let label = |want: &String| match want.split_once('=') {
            Some((key, value)) => volume.labels.get(key).is_some_and(|v| v == value),
            None => volume.labels.contains_key(want),
        };
        (self.names.is_empty() || self.names.iter().any(|n| volume.name.contains(n.as_str())))
            && self.labels.iter().all(label)
            && (self.drivers.is_empty() || self.drivers.contains(&volume.driver))
    }
}

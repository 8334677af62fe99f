//! The model registry: the built-in models (a data file compiled into the
//! binary) plus the models the user adds or overrides in the config file.

use serde::Deserialize;

use crate::config::{Problem, Settings, Source};

const BUILTIN: &str = include_str!("builtin.toml");

/// What the registry knows of one model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ModelSpec {
    pub id: String,
    pub name: String,
    pub repo: String,
}

#[derive(Deserialize)]
struct BuiltinFile {
    model: Vec<ModelSpec>,
}

/// The models, in a stable order: built-ins first, then user models by id.
#[derive(Clone, Debug)]
pub struct Registry {
    models: Vec<ModelSpec>,
    default: String,
}

impl Registry {
    /// The built-in models with the user's additions and overrides applied.
    pub fn from_settings(settings: &Settings) -> (Self, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut models = builtin();
        for (id, entry) in &settings.models {
            match models.iter_mut().find(|m| &m.id == id) {
                Some(m) => {
                    if let Some(repo) = &entry.repo {
                        m.repo = repo.clone();
                    }
                    if let Some(name) = &entry.name {
                        m.name = name.clone();
                    }
                }
                None => match &entry.repo {
                    Some(repo) => models.push(ModelSpec {
                        id: id.clone(),
                        name: entry.name.clone().unwrap_or_else(|| id.clone()),
                        repo: repo.clone(),
                    }),
                    None => problems.push(Problem {
                        source: Source::File(Default::default()),
                        key: format!("models.{id}.repo"),
                        reason: "a new model needs `repo` (the model name its server expects)".to_owned(),
                    }),
                },
            }
        }
        let default = if models.iter().any(|m| m.id == settings.model) {
            settings.model.clone()
        } else {
            problems.push(Problem {
                source: Source::Defaults,
                key: "model".to_owned(),
                reason: format!(
                    "unknown model `{}`; known models: {}",
                    settings.model,
                    models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
            crate::config::DEFAULT_MODEL.to_owned()
        };
        (Self { models, default }, problems)
    }

    pub fn all(&self) -> &[ModelSpec] {
        &self.models
    }

    pub fn get(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn default_id(&self) -> &str {
        &self.default
    }
}

fn builtin() -> Vec<ModelSpec> {
    toml::from_str::<BuiltinFile>(BUILTIN).expect("the built-in model file is valid").model
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelEntry;

    #[test]
    fn five_builtin_models_with_deepseek_default() {
        let (reg, problems) = Registry::from_settings(&Settings::default());
        assert!(problems.is_empty());
        let ids: Vec<_> = reg.all().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["deepseek-coder", "phi-2", "gemma", "stable-code", "replit-code"]);
        assert_eq!(reg.default_id(), "deepseek-coder");
    }

    #[test]
    fn user_models_and_unknown_default() {
        let mut s = Settings { model: "mine".into(), ..Default::default() };
        s.models.insert("mine".into(), ModelEntry { repo: Some("me/my-coder".into()), ..Default::default() });
        let (reg, problems) = Registry::from_settings(&s);
        assert!(problems.is_empty());
        assert_eq!(reg.default_id(), "mine");
        s.model = "nope".into();
        let (reg, problems) = Registry::from_settings(&s);
        assert_eq!(reg.default_id(), "deepseek-coder");
        assert!(problems[0].reason.contains("unknown model `nope`"));
    }
}

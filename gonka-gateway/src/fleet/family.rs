//! Model families, for VRAM fallback: the family of a model is its name (the part after the
//! last `/`, lower-cased) before its size tag. The size tag is an Ollama tag (`qwen2.5:7b` →
//! `qwen2.5`) or the first `-`-separated part that is a parameter count (`7B`, `0.5B`, `14b`,
//! `8x7B`, `135M`): `Qwen/Qwen2.5-7B-Instruct` and `Qwen/Qwen2.5-14B-Instruct` are both
//! `qwen2.5`, `Qwen/Qwen3-235B-A22B-Instruct-2507-FP8` and `Qwen/Qwen3-32B-FP8` are both
//! `qwen3`. A name with no size tag has no family (it never falls back).

/// The family of `model` (see the module documentation), `None` when it has no size tag.
pub fn family_of(model: &str) -> Option<String> {
    let name = model.rsplit('/').next()?.trim().to_ascii_lowercase();
    if let Some((base, tag)) = name.split_once(':') {
        return (!base.is_empty() && !tag.is_empty()).then(|| base.to_owned());
    }
    let parts: Vec<&str> = name.split('-').collect();
    let at = parts.iter().position(|p| is_size_tag(p))?;
    (at > 0).then(|| parts[..at].join("-"))
}

/// Whether two different models are of one family.
pub fn same_family(a: &str, b: &str) -> bool {
    a != b && family_of(a).is_some_and(|f| family_of(b).as_deref() == Some(f.as_str()))
}

/// `7b`, `0.5b`, `14b`, `8x7b`, `135m`: a number (or `NxM`) of parameters in billions or millions.
fn is_size_tag(part: &str) -> bool {
    let Some(count) = part.strip_suffix('b').or_else(|| part.strip_suffix('m')) else {
        return false;
    };
    let mut factors = count.split('x');
    factors.all(|f| {
        f.starts_with(|c: char| c.is_ascii_digit())
            && f.chars().all(|c| c.is_ascii_digit() || c == '.')
            && f.matches('.').count() <= 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_is_the_name_before_the_size_tag() {
        assert_eq!(
            family_of("Qwen/Qwen2.5-7B-Instruct").as_deref(),
            Some("qwen2.5")
        );
        assert_eq!(
            family_of("Qwen/Qwen2.5-14B-Instruct").as_deref(),
            Some("qwen2.5")
        );
        assert_eq!(family_of("Qwen/Qwen2.5-0.5B").as_deref(), Some("qwen2.5"));
        assert_eq!(
            family_of("Qwen/Qwen3-235B-A22B-Instruct-2507-FP8").as_deref(),
            Some("qwen3")
        );
        assert_eq!(family_of("Qwen/Qwen3-32B-FP8").as_deref(), Some("qwen3"));
        assert_eq!(
            family_of("mistralai/Mixtral-8x7B-v0.1").as_deref(),
            Some("mixtral")
        );
        assert_eq!(
            family_of("HuggingFaceTB/SmolLM2-135M").as_deref(),
            Some("smollm2")
        );
        assert_eq!(family_of("qwen2.5:7b").as_deref(), Some("qwen2.5"));
        assert_eq!(family_of("llama3.3:70b").as_deref(), Some("llama3.3"));
    }

    #[test]
    fn names_without_a_size_tag_have_no_family() {
        assert_eq!(family_of("simulator"), None);
        assert_eq!(family_of("org/tiny"), None);
        assert_eq!(family_of("7B-Instruct"), None);
        assert_eq!(family_of("qwen:"), None);
        assert_eq!(family_of("Qwen/Qwen-Bb"), None);
    }

    #[test]
    fn same_family_means_different_models_with_one_family() {
        assert!(same_family(
            "Qwen/Qwen2.5-7B-Instruct",
            "Qwen/Qwen2.5-14B-Instruct"
        ));
        assert!(same_family("Qwen/Qwen2.5-7B-Instruct", "qwen2.5:32b"));
        assert!(!same_family(
            "Qwen/Qwen2.5-7B-Instruct",
            "Qwen/Qwen2.5-7B-Instruct"
        ));
        assert!(!same_family(
            "Qwen/Qwen2.5-7B-Instruct",
            "Qwen/Qwen3-32B-FP8"
        ));
        assert!(!same_family("simulator", "simulator-2"));
    }
}

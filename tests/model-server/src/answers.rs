//! Deterministic answers: recognisable code for a generate-style prompt and
//! markdown for an explain-style one, both derived from the prompt text.

/// The answer to a prompt (whatever its model format).
pub fn answer(prompt: &str) -> String {
    if is_explain(prompt) { explain_answer(prompt) } else { generate_answer(prompt) }
}

fn is_explain(prompt: &str) -> bool {
    let lower = prompt.to_ascii_lowercase();
    lower.starts_with("explain") || lower.contains("explain what") || lower.contains("the code above does")
}

/// The language a prompt asks for: a fence tag, "Write LANG code" or
/// "Language: LANG"; `python` when none is named.
pub fn language_of_prompt(prompt: &str) -> String {
    let after = |marker: &str| {
        prompt.find(marker).map(|i| {
            prompt[i + marker.len()..]
                .split(|c: char| c.is_whitespace() || c == '`')
                .find(|w| !w.is_empty())
                .unwrap_or("")
                .to_ascii_lowercase()
        })
    };
    after("Language: ")
        .or_else(|| after("```").filter(|l| !l.is_empty()))
        .or_else(|| after("Write "))
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || "+#-_".contains(c)))
        .unwrap_or_else(|| "python".to_owned())
}

/// What the code should do: the text after `Task:`, after `following:`, or
/// the last comment line of a completion prompt.
fn task_of_prompt(prompt: &str) -> String {
    for marker in ["Task: ", "the following: "] {
        if let Some(i) = prompt.rfind(marker) {
            // The line, without a chat-template token after it.
            let line = prompt[i + marker.len()..].lines().next().unwrap_or("");
            return line.split('<').next().unwrap_or("").trim().to_owned();
        }
    }
    prompt
        .lines()
        .rev()
        .map(|l| l.trim().trim_start_matches(['#', '/', '-', ';', '%', '*']).trim())
        .find(|l| !l.is_empty() && !l.starts_with("Language:") && !l.ends_with(':'))
        .unwrap_or("do something")
        .to_owned()
}

fn snake(task: &str) -> String {
    let words: Vec<String> = task
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let name = words.join("_");
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) { format!("task_{name}") } else { name }
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    for (i, part) in snake.split('_').enumerate() {
        let mut cs = part.chars();
        if let Some(first) = cs.next() {
            if i == 0 {
                out.push(first);
            } else {
                out.push(first.to_ascii_uppercase());
            }
            out.extend(cs);
        }
    }
    out
}

/// Code in the prompt's language, in a markdown fence, from the prompt's task.
pub fn generate_answer(prompt: &str) -> String {
    let language = language_of_prompt(prompt);
    let task = task_of_prompt(prompt).replace(['"', '\\', '`'], "'");
    let name = snake(&task);
    let code = match language.as_str() {
        "python" | "py" => format!("def {name}():\n    \"\"\"{task}\"\"\"\n    return \"{name}\""),
        "rust" | "rs" => format!("fn {name}() -> &'static str {{\n    // {task}\n    \"{name}\"\n}}"),
        "go" => format!("func {}() string {{\n\t// {task}\n\treturn \"{name}\"\n}}", camel(&name)),
        "lua" => format!("local function {name}()\n  -- {task}\n  return \"{name}\"\nend"),
        "ruby" | "rb" => format!("def {name}\n  # {task}\n  \"{name}\"\nend"),
        "shellscript" | "bash" | "sh" | "shell" => format!("{name}() {{\n  # {task}\n  echo \"{name}\"\n}}"),
        "javascript" | "js" | "javascriptreact" => {
            format!("function {}() {{\n  // {task}\n  return \"{name}\";\n}}", camel(&name))
        }
        "typescript" | "ts" | "typescriptreact" => {
            format!("function {}(): string {{\n  // {task}\n  return \"{name}\";\n}}", camel(&name))
        }
        "java" | "csharp" | "c#" => {
            format!("static String {}() {{\n    // {task}\n    return \"{name}\";\n}}", camel(&name))
        }
        _ => format!("const char *{name}(void) {{\n    /* {task} */\n    return \"{name}\";\n}}"),
    };
    format!("Here is the {language} code:\n\n```{language}\n{code}\n```\n")
}

/// A markdown explanation of the code in the prompt.
pub fn explain_answer(prompt: &str) -> String {
    let language = language_of_prompt(prompt);
    // Completion-style prompts have no fence: drop their own comment lines.
    let code = fenced_code(prompt).unwrap_or_else(|| {
        prompt
            .lines()
            .filter(|l| !l.contains("Language:") && !l.contains("the code above"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let lines = code.lines().filter(|l| !l.trim().is_empty()).count();
    let first = code.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").replace('`', "'");
    format!(
        "This {language} code has {lines} non-empty line{s}.\n\n\
         - It starts with `{first}`.\n\
         - Each step runs in order, top to bottom.\n\n\
         **Summary:** a short {language} snippet.\n",
        s = if lines == 1 { "" } else { "s" },
    )
}

fn fenced_code(prompt: &str) -> Option<String> {
    let start = prompt.find("```")?;
    let after = &prompt[start + 3..];
    let body_start = after.find('\n')? + 1;
    let body = &after[body_start..];
    let end = body.find("```").unwrap_or(body.len());
    Some(body[..end].trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_prompts_get_code_in_their_language() {
        let p =
            "Write rust code for the following task. Reply with one ```rust code block only.\nTask: reverse a string";
        let a = generate_answer(p);
        assert!(a.contains("```rust\nfn reverse_a_string()"), "{a}");
        let p = "# Language: python\n# sort the list\n";
        assert!(answer(p).contains("def sort_the_list():"), "{}", answer(p));
        let p = "Instruct: Write go code that does the following: add two numbers\nAnswer with the code only.\nOutput:";
        assert!(answer(p).contains("func addTwoNumbers() string"), "{}", answer(p));
    }

    #[test]
    fn explain_prompts_get_markdown() {
        let p = "Explain what the following python code does, in markdown.\n```python\nx = 1\ny = 2\n```";
        let a = answer(p);
        assert!(a.starts_with("This python code has 2 non-empty lines."), "{a}");
        assert!(a.contains("`x = 1`"));
    }
}

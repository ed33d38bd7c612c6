//! `$(VAR)` references, as Kubernetes' `third_party/forked/golang/expansion` expands
//! them: `$(NAME)` is replaced by the variable's value, `$$` is a literal `$`, and a
//! reference to an undefined variable (or an unterminated `$(`) stays as written.

/// `Expand(input, mapping)`: `lookup` gives a variable's value, `None` when undefined.
pub fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let (mut checkpoint, mut cursor) = (0, 0);
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                // `$$`: an escaped operator.
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(value) => out.push_str(value),
                            None => out.push_str(&format!("$({name})")),
                        }
                        close + 1
                    }
                    // An incomplete reference: `$(` as is, then go on after it.
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                // An operator that begins no expression: it and the next character.
                _ => {
                    let next = rest.chars().next().map_or(0, char::len_utf8);
                    out.push('$');
                    out.push_str(&rest[..next]);
                    next
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

/// `ExpandContainerCommandAndArgs` (and `ExpandContainerCommandOnlyStatic`): every
/// argument expanded against `env`, the last definition of a name winning.
pub fn expand_all(args: &[String], env: &[(String, String)]) -> Vec<String> {
    let lookup = |name: &str| env.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    args.iter().map(|arg| expand(arg, lookup)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> String {
        let env = [("VAR_A".to_string(), "A".to_string()), ("EMPTY".to_string(), String::new()), ("Ü".to_string(), "u".to_string())];
        expand_all(&[input.to_string()], &env).remove(0)
    }

    #[test]
    fn references_expand_as_the_kubelet_does() {
        // Cases from the Go package's tests.
        assert_eq!(run("$(VAR_A)"), "A");
        assert_eq!(run("___$(VAR_A)___"), "___A___");
        assert_eq!(run("$(VAR_A)$(VAR_A)"), "AA");
        assert_eq!(run("$(EMPTY)"), "");
        assert_eq!(run("$(UNDEFINED)"), "$(UNDEFINED)");
        assert_eq!(run("$$(VAR_A)"), "$(VAR_A)");
        assert_eq!(run("$$$(VAR_A)"), "$A");
        assert_eq!(run("$$$$(VAR_A)"), "$$(VAR_A)");
        assert_eq!(run("$(VAR_A"), "$(VAR_A");
        assert_eq!(run("$VAR_A"), "$VAR_A");
        assert_eq!(run("$"), "$");
        assert_eq!(run("x$"), "x$");
        assert_eq!(run("$()"), "$()");
        assert_eq!(run("$(Ü)ä$é"), "uä$é");
        assert_eq!(run("$(VAR_A)$"), "A$");
    }
}

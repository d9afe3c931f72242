//! What WireMock's Java libraries print, printed the same way here: Jackson's default pretty
//! printer (a `jsonBody` as WireMock sends it, an object found by `matchesJsonPath`).

use serde_json::Value;

/// Jackson's default pretty printer, which WireMock uses to write `jsonBody`: `"k" : v`, two
/// spaces of indent, arrays on one line as `[ 1, 2 ]`, empty containers as `{ }` and `[ ]`.
pub(crate) fn jackson_pretty(v: &Value) -> String {
    fn write(v: &Value, indent: usize, out: &mut String) {
        match v {
            Value::Object(m) if m.is_empty() => out.push_str("{ }"),
            Value::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&"  ".repeat(indent + 1));
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(" : ");
                    write(v, indent + 1, out);
                }
                out.push('\n');
                out.push_str(&"  ".repeat(indent));
                out.push('}');
            }
            Value::Array(a) if a.is_empty() => out.push_str("[ ]"),
            Value::Array(a) => {
                out.push_str("[ ");
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write(v, indent, out);
                }
                out.push_str(" ]");
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, 0, &mut out);
    out
}

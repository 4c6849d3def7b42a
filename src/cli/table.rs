//! Plain-text tables for the tools: a header row, then left-aligned columns two spaces apart
//! (as `kafka-topics.sh` and `rpk` print them).

/// Renders `header` and `rows` (each as long as `header`).
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(String::len)
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let header: Vec<String> = header.iter().map(|cell| cell.to_string()).collect();
    let mut text = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// `-` for a missing value.
pub fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let text = render(
            &["NAME", "N"],
            &[
                vec!["a".into(), "1000".into()],
                vec!["longer".into(), "2".into()],
            ],
        );
        assert_eq!(text, "NAME    N\na       1000\nlonger  2\n");
    }
}

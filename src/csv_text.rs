//! CSV as eventscope writes it (exports of audit results, SQL previews and comparisons): RFC 4180
//! records written by the `csv` crate, a field quoted only where it needs to be, `\n` after each.

/// One CSV record, with its line end.
pub fn record<I, F>(fields: I) -> String
where
    I: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    // Writing to memory cannot fail, and the csv crate's output is UTF-8 when its input is.
    let _ = writer.write_record(fields);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_where_they_need_it_and_read_back() {
        let fields = ["plain", "x,y", "say \"hi\"", "two\nlines", "", " padded "];
        let line = record(fields);
        assert_eq!(line, "plain,\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",, padded \n");
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
        let back: Vec<String> = reader.records().next().unwrap().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(back, fields);
    }
}

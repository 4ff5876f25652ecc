# Shell shared by the bench scripts (sourced, after they cd to the repository root).

# replace_section DOC HEADING FILE: puts FILE's text in DOC in place of the section that starts at
# the line HEADING and runs up to the next "## " heading, or at the end when DOC has no such
# section; every other section stays as it is. DOC is rewritten in place.
replace_section() {
    local doc=$1 head=$2 sec=$3 out
    [ -f "$doc" ] || { echo "replace_section: $doc not found" >&2; return 1; }
    out=$(mktemp "$doc.XXXXXX")
    awk -v sec="$sec" -v head="$head" '
        function emit(  l) { while ((getline l < sec) > 0) print l }
        $0 == head { emit(); skip = 1; done = 1; next }
        skip && /^## / { skip = 0; print "" }
        !skip { print }
        END { if (!done) { print ""; emit() } }' "$doc" >"$out" || { rm -f "$out"; return 1; }
    cat "$out" >"$doc"
    rm -f "$out"
}

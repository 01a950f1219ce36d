{#
    Track identity (../docs/data_contracts.md): the normalized artist and title that make
    `name:<artist>|<title>` keys and the name look-ups that find a Spotify id or a
    MusicBrainz id for a play that carries none. Portable on purpose: translate, lower,
    replace, trim and regexp_replace only (no unaccent or other PostgreSQL extension; POSIX
    bracket classes, no backslashes), so PostgreSQL and Snowflake build the same keys.

    Rules, in this order (both names unless said otherwise):
      1. fold: Latin letters with diacritics -> the plain small letter (é -> e, Ø -> o,
         ł -> l, ß -> ss, æ -> ae, œ -> oe, þ -> th); Greek and Cyrillic capitals -> small
         (Greek accents dropped, ё -> е); fullwidth forms, CJK brackets and commas,
         typographic quotes, dashes, ellipsis, ¿ ¡ and unusual spaces -> their ASCII form;
         then lower(). Folding is explicit, so the result does not depend on the
         database's locale.
      2. featured artists: a bracketed "(feat. X)", "[ft X]", "(featuring X)" anywhere,
         then (after rule 3) an unbracketed " feat. X", " ft. X" or " featuring X" up to
         the end (the dot is required there: "10 ft Ganja Plant", "A Feat of Clay" stay).
         "with X", "x", "&" and "," collaborations are kept.
      3. titles only, version suffixes at the very end, after " - " or in brackets
         (repeated: "Song (Live) - Remastered" -> "song"):
           - any words or digits containing "remaster": "Remastered 2011", "2011 Remaster",
             "Remastered", "2009 Remastered Version", "Digital Remaster";
           - "Live", "Live Version", "Live at|in|from|on ...";
           - "Mono", "Stereo" (+ " Version"); "Single|Album|Radio Version|Edit".
         Kept (other recordings or other songs): remixes, mixes, other edits, acoustic,
         instrumental, demo, "Taylor's Version", years alone.
      4. "&" -> "and"; apostrophes dropped ("Don't" -> "dont"); other ASCII punctuation
         -> a space; whitespace collapsed and trimmed.
      5. a name that normalizes to nothing (only punctuation: "!!!") keeps its lower-cased,
         trimmed original; blank or NULL -> NULL.
#}

{% macro normalize_artist_name(name) -%}
    {{ normalize_name(name, strip_version_suffixes=false) }}
{%- endmacro %}

{% macro normalize_track_name(name) -%}
    {{ normalize_name(name, strip_version_suffixes=true) }}
{%- endmacro %}


{% macro normalize_name(name, strip_version_suffixes=false) -%}
    {#- rule 1: (characters, the small ASCII / Greek / Cyrillic letter each becomes) -#}
    {%- set fold_map = [
    ('ÀÁÂÃÄÅàáâãäåĀāĂăĄąǍǎǞǟǠǡǺǻȀȁȂȃȦȧḀḁẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặ', 'a'),
    ('ḂḃḄḅḆḇ', 'b'),
    ('ÇçĆćĈĉĊċČčḈḉ', 'c'),
    ('đĐðÐĎďḊḋḌḍḎḏḐḑḒḓ', 'd'),
    ('ÈÉÊËèéêëĒēĔĕĖėĘęĚěȄȅȆȇȨȩḔḕḖḗḘḙḚḛḜḝẸẹẺẻẼẽẾếỀềỂểỄễỆệ', 'e'),
    ('ƒḞḟ', 'f'),
    ('ĜĝĞğĠġĢģǦǧǴǵḠḡ', 'g'),
    ('ħĦĤĥȞȟḢḣḤḥḦḧḨḩḪḫẖ', 'h'),
    ('ıÌÍÎÏìíîïĨĩĪīĬĭĮįİǏǐȈȉȊȋḬḭḮḯỈỉỊị', 'i'),
    ('Ĵĵǰ', 'j'),
    ('ĶķǨǩḰḱḲḳḴḵ', 'k'),
    ('łŁĹĺĻļĽľḶḷḸḹḺḻḼḽ', 'l'),
    ('ḾḿṀṁṂṃ', 'm'),
    ('ÑñŃńŅņŇňǸǹṄṅṆṇṈṉṊṋ', 'n'),
    ('øØÒÓÔÕÖòóôõöŌōŎŏŐőƠơǑǒǪǫǬǭȌȍȎȏȪȫȬȭȮȯȰȱṌṍṎṏṐṑṒṓỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợ', 'o'),
    ('ṔṕṖṗ', 'p'),
    ('ŔŕŖŗŘřȐȑȒȓṘṙṚṛṜṝṞṟ', 'r'),
    ('ſŚśŜŝŞşŠšȘșṠṡṢṣṤṥṦṧṨṩ', 's'),
    ('ŧŦŢţŤťȚțṪṫṬṭṮṯṰṱẗ', 't'),
    ('ÙÚÛÜùúûüŨũŪūŬŭŮůŰűŲųƯưǓǔǕǖǗǘǙǚǛǜȔȕȖȗṲṳṴṵṶṷṸṹṺṻỤụỦủỨứỪừỬửỮữỰự', 'u'),
    ('ṼṽṾṿ', 'v'),
    ('ŴŵẀẁẂẃẄẅẆẇẈẉẘ', 'w'),
    ('ẊẋẌẍ', 'x'),
    ('ÝýÿŶŷŸȲȳẎẏẙỲỳỴỵỶỷỸỹ', 'y'),
    ('ŹźŻżŽžẐẑẒẓẔẕ', 'z'),
    ('ΆΈΉΊΌΎΏΐΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫάέήίΰςϊϋόύώϴ',
     'αεηιουωιαβγδεζηθικλμνξοπρστυφχψωιυαεηιυσιυουωθ'),
    ('АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯЁё',
     'абвгдежзийклмнопрстуфхцчшщъыьэюяее'),
        ('！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～、。「」『』【】〈〉《》〔〕・〜',
         '!"#$%&\'()*+,-./0123456789:;<=>?@abcdefghijklmnopqrstuvwxyz[/]^_`abcdefghijklmnopqrstuvwxyz{|}~,.""""()<>""().-'),
        ('ÆŒẞÞ', 'æœßþ'),
        ('’‘‚‛′`´ʼ', "'"),
        ('“”„‟″«»', '"'),
        ('–—―‐‑‒−', '-'),
        ('…·', '..'),
        ('¿¡', '?!'),
        ('\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000', ' '),
    ] -%}
    {%- set ns = namespace(from_chars='', to_chars='') -%}
    {%- for from_chars, to_chars in fold_map -%}
        {%- set ns.from_chars = ns.from_chars ~ from_chars -%}
        {%- if to_chars | length == from_chars | length -%}
            {%- set ns.to_chars = ns.to_chars ~ to_chars -%}
        {%- else -%}
            {%- set ns.to_chars = ns.to_chars ~ (to_chars * (from_chars | length)) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- translate is costly (a search in the long map per character): ASCII-only names,
        one byte per character, skip it. fakesnow (DuckDB) has no octet_length of text:
        there every name goes through translate, which leaves ASCII unchanged anyway. -#}
    {%- set ascii_only -%}
        {%- if target.get('account') == 'fakesnow' -%}
            1 = 0
        {%- else -%}
            octet_length({{ name }}) = length({{ name }})
        {%- endif -%}
    {%- endset -%}
    {%- set folded -%}
        replace(replace(replace(replace(
            lower(case
                when {{ ascii_only }} then {{ name }}
                else translate(
                    {{ name }},
                    '{{ ns.from_chars | replace("'", "''") }}',
                    '{{ ns.to_chars | replace("'", "''") }}'
                )
            end),
            'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'þ', 'th')
    {%- endset -%}
    {%- set spaced = regexp_replace_all(folded, '[[:space:]]+', ' ') -%}
    {#- rule 2, bracketed -#}
    {%- set name_only = regexp_replace_all(
        spaced, ' ?[([] ?(feat|ft|featuring)[. ][^])]*[])]', ' '
    ) -%}
    {#- rule 3 -#}
    {%- if strip_version_suffixes -%}
        {%- set version = '[a-z0-9 ]*remaster[a-z0-9 ]*|live|live version'
            ~ '|(mono|stereo)( version)?|(single|album|radio) (version|edit)' -%}
        {%- set name_only = regexp_replace_all(
            'trim(' ~ name_only ~ ')',
            '( - (' ~ version ~ '|live (at|in|from|on) .*)'
            ~ '| ?[([](' ~ version ~ '|live (at|in|from|on) [^])]*)[])])+$',
            ''
        ) -%}
    {%- endif -%}
    {#- rule 2, unbracketed, to the end -#}
    {%- set name_only = regexp_replace_all(name_only, ' (feat[.]|ft[.]|featuring ).*$', '') -%}
    {#- rule 4 -#}
    {%- set words = regexp_replace_all(
        "replace(replace(" ~ name_only ~ ", '&', ' and '), '''', '')", '[[:punct:]]+', ' '
    ) -%}
    {%- set collapsed = 'trim(' ~ regexp_replace_all(words, ' +', ' ') ~ ')' -%}
    {#- rule 5 -#}
    coalesce(nullif({{ collapsed }}, ''), nullif(lower(trim({{ name }})), ''))
{%- endmacro %}


{# The identity of a track mention (int_track_mentions): md5 over the source kind and the
   names and ids as loaded. int_plays_unioned computes the same id for every play to find
   its resolved track. #}
{% macro track_mention_id(mention_source, spotify_track_id, track_mbid, artist_name, track_name) -%}
    {{ hash_key([mention_source, spotify_track_id, track_mbid, artist_name, track_name]) }}
{%- endmacro %}

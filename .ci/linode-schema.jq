# The argument schema of the Terraform provider linode/linode, derived from
# pulumi-linode's bridged schema (the provider itself cannot be downloaded
# offline, so `terraform validate` cannot check our modules against it).
# Same output as ../shared/schemas/terraform/linode/derive.py, in jq (CI has jq):
#   jq -n -S --slurpfile schema schema.json --slurpfile bridge bridge-metadata.json \
#      --arg version 3.9.0 --arg commit 16fca7ca -f .ci/linode-schema.jq > 3.9.0.json
# where both inputs are provider/cmd/pulumi-resource-linode/*.json of pulumi/pulumi-linode
# at that commit. For each resource and data source: its settable arguments,
# whether each is required, and nested blocks, recursively.
$schema[0] as $s | $bridge[0] as $b | $b.renames as $renames |
def snake: gsub("(?<u>[A-Z])"; "_" + (.u | ascii_downcase));
# The type token a property refers to (directly or as list/map items), or null.
def ref_type: [., (.items // {}), (.additionalProperties // {})]
  | map(.["$ref"] // "" | select(startswith("#/types/")) | ltrimstr("#/types/")) | first;
# Pulumi name -> Terraform name: the bridge's rename, else snake_case, singular where Terraform's is.
def tf_name($name; $names; $aliased):
  if $names | has($name) then $names[$name]
  else ($name | snake) as $sn
    | [$sn, (if $sn | endswith("s") then $sn[:-1] else null end),
       (if $sn | endswith("es") then $sn[:-2] else null end)]
    | map(select(. as $c | $c != null and $c != "" and ($aliased | has($c)))) | first // $sn
  end;
def args($token; $props; $required; $aliased; $seen):
  ($renames.renamedProperties[$token] // {}) as $names
  | reduce ($props | to_entries | sort_by(.key)[]) as $e ({};
      tf_name($e.key; $names; $aliased) as $tf
      | ($e.value | ref_type) as $t
      | . + {($tf): ({required: ($required | index($e.key) != null)}
          + if $t != null and ($s.types | has($t)) and ($seen | index($t) == null) then
              $s.types[$t] as $nt
              | {block: args($t; $nt.properties // {}; $nt.required // [];
                    $aliased[$tf].elem.fields // {}; $seen + [$t]),
                 list: ($e.value.type == "array")}
            else {type: ($e.value.type // (if $e.value | has("$ref") then "object" else "any" end))}
            end)});
def tf_type($functions):
  (split(":") | last) as $n
  | (if $functions and ($n | startswith("get")) then $n[3:] else $n end) as $n
  | "linode_" + (($n[:1] | ascii_downcase) + $n[1:] | snake);
def table($section; $renamed; $functions; arguments):
  [$s[$section] | keys_unsorted[] as $token
    | {token: $token, tf: ($renamed[$token] // ($token | tf_type($functions)))}]
  | sort_by(.tf)
  | reduce .[] as $r ({};
      $s[$section][$r.token] as $d
      | if ($d // {}) | length > 0 then
          ($d | arguments) as $in
          | . + {($r.tf): args($r.token; $in.props; $in.required;
              ($b["auto-aliasing"][if $functions then "datasources" else "resources" end][$r.tf].fields // {});
              [])}
        else . end);
{
  provider: "registry.terraform.io/linode/linode",
  version: $version,
  derived_from: "pulumi/pulumi-linode \($commit) (schema.json + bridge-metadata.json)",
  resources: table("resources"; $renames.resources; false;
    {props: (.inputProperties // {}), required: (.requiredInputs // [])}),
  data_sources: table("functions"; $renames.functions; true;
    {props: ((.inputs // {}).properties // {}), required: ((.inputs // {}).required // [])})
}

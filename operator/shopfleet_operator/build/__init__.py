"""Pure builders: a Shop (and the operator's Config) → the Kubernetes objects it needs.

Nothing here talks to the API. Every builder returns plain dicts, ready to create or to
compare with what the cluster has. One module per kind of thing built:

- `names`: labels, namespaces, object names, the Lease that claims a shop's name;
- `routing`: the route table entry and its ConfigMap, the Ingresses;
- `secrets`: the shop's Secret, its account's record, its callers' tokens;
- `accounts`: a dedicated shop's role, databases, vhost and Redis ACL user;
- `namespace`: a dedicated shop's Namespace, ResourceQuota and LimitRange;
- `dapr`: Components, Configuration, Resiliency;
- `workloads`: ServiceAccount, Deployment and Service of each service;
- `access`: NetworkPolicy, and the Roles that let services read their Secrets;
- `children`: all of them, in creation order.
"""

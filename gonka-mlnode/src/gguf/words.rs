//! The word list the tiny model's vocabulary is built from: common English words, so the
//! random output looks like word salad rather than byte noise.

/// Whitespace-separated common words.
pub(crate) const WORDS: &str = "
the be to of and a in that have it for not on with he as you do at this but his by from they
we say her she or an will my one all would there their what so up out if about who get which go
me when make can like time no just him know take people into year your good some could them see
other than then now look only come its over think also back after use two how our work first well
way even new want because any these give day most us is are was were been has had did said made
went got came took saw knew thought told found gave become left felt put brought began kept held
stood heard let meant set met ran paid sat spoke lay led read grew lost fell sent built understood
drew broke spent cut rose drove bought wore chose sought threw caught dealt won forgot sold
world life hand part child eye woman place week case point government company number group problem
fact house side water room mother area money story month lot right study book job word business
issue kind head far black long both little important until small large next early young few
public bad same able high different local sure free better true whole real full best special easy
clear recent certain personal open red difficult available likely short single medical current
wrong private past foreign fine common poor natural significant similar hot dead central happy
serious ready simple left physical general environmental financial blue democratic dark various
entire close legal religious cold final main green nice huge popular traditional cultural river
mountain forest garden window street city town village country ocean island desert valley bridge
road station market school church office hospital library museum theater kitchen table chair
door floor wall roof stone paper glass metal wood cloth bread cheese apple orange coffee tea
music song dance picture letter voice sound light fire wind rain snow cloud storm summer winter
spring autumn morning evening night today tomorrow yesterday always never often sometimes again
horse bird fish dog cat cow sheep lion tiger bear wolf fox rabbit mouse snake whale eagle
king queen prince soldier farmer doctor teacher student writer painter singer driver worker
north south east west above below under between behind beside through across toward around
science history language nature machine engine system energy power signal model token network
";
